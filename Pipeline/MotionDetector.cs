using OpenCvSharp;

namespace Edge.Pipeline;

/// <summary>
/// Moving regions of one stream's frames: OpenCV's MOG2 background subtractor on a copy at most
/// <see cref="WorkingWidth"/> pixels wide, shadows dropped, small specks opened away and body parts dilated together,
/// outer contours boxed, boxes below the minimum area dropped and boxes that overlap or nearly touch merged. Boxes
/// are in original-frame pixels, largest first. Owns the subtractor and its work images; dispose it when the stream
/// ends. The first frame of a stream has no regions: it only starts the background model. Not thread-safe: one
/// caller at a time.
/// </summary>
public sealed class MotionDetector : IDisposable
{
    /// <summary>Motion is found at this width: enough for people in a surveillance view, a quarter of the work of full size.</summary>
    public const int WorkingWidth = 384;

    // MOG2 marks shadows 127 and foreground 255.
    private const double ForegroundLevel = 200;

    private readonly BackgroundSubtractorMOG2 _subtractor = BackgroundSubtractorMOG2.Create(history: 500, varThreshold: 16, detectShadows: true);
    private readonly Mat _small = new();
    private readonly Mat _mask = new();
    private readonly Mat _speck = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(3, 3));
    private readonly Mat _join = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(7, 7));
    private readonly int _minAreaPx;
    private readonly int _mergeGapPx;
    private double _scale = 1;
    private long _frames;

    public MotionDetector(int minAreaPx, int mergeGapPx)
    {
        _minAreaPx = minAreaPx;
        _mergeGapPx = mergeGapPx;
    }

    /// <summary>Adds the frame to the background model and returns its moving regions.</summary>
    public IReadOnlyList<Rect> Detect(Mat frame)
    {
        _scale = frame.Width > WorkingWidth ? WorkingWidth / (double)frame.Width : 1;
        if (_scale < 1)
        {
            Cv2.Resize(frame, _small, new Size(), _scale, _scale, InterpolationFlags.Area);
        }
        else
        {
            frame.CopyTo(_small);
        }
        _subtractor.Apply(_small, _mask);
        if (_frames++ == 0)
        {
            // The first frame only starts the background model; its mask compares against nothing.
            _mask.SetTo(Scalar.Black);
            return [];
        }
        Cv2.Threshold(_mask, _mask, ForegroundLevel, 255, ThresholdTypes.Binary);
        Cv2.MorphologyEx(_mask, _mask, MorphTypes.Open, _speck);
        Cv2.Dilate(_mask, _mask, _join);
        Cv2.FindContours(_mask, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
        var bounds = new Rect(0, 0, frame.Width, frame.Height);
        var boxes = new List<Rect>();
        foreach (var contour in contours)
        {
            var r = Cv2.BoundingRect(contour);
            var x1 = (int)Math.Floor(r.X / _scale);
            var y1 = (int)Math.Floor(r.Y / _scale);
            var box = Rect.FromLTRB(x1, y1, (int)Math.Ceiling(r.Right / _scale), (int)Math.Ceiling(r.Bottom / _scale)) & bounds;
            if (box.Width * box.Height >= _minAreaPx)
            {
                boxes.Add(box);
            }
        }
        return Merge(boxes, _mergeGapPx);
    }

    /// <summary>Whether nothing moved inside <paramref name="box"/> (original-frame pixels) in the last frame.</summary>
    public bool IsStill(Rect box)
    {
        var scaled = Rect.FromLTRB((int)(box.Left * _scale), (int)(box.Top * _scale),
            (int)Math.Ceiling(box.Right * _scale), (int)Math.Ceiling(box.Bottom * _scale)) & new Rect(0, 0, _mask.Width, _mask.Height);
        using var region = new Mat(_mask, scaled);
        return Cv2.CountNonZero(region) == 0;
    }

    /// <summary>Merges boxes that overlap or lie within <paramref name="gap"/> pixels of each other until none do; largest first.</summary>
    public static List<Rect> Merge(List<Rect> boxes, int gap)
    {
        var merged = true;
        while (merged)
        {
            merged = false;
            for (var i = 0; i < boxes.Count && !merged; i++)
            {
                for (var j = i + 1; j < boxes.Count; j++)
                {
                    var (a, b) = (boxes[i], boxes[j]);
                    if (a.Left - gap <= b.Right && b.Left - gap <= a.Right && a.Top - gap <= b.Bottom && b.Top - gap <= a.Bottom)
                    {
                        boxes[i] = a | b;
                        boxes.RemoveAt(j);
                        merged = true;
                        break;
                    }
                }
            }
        }
        boxes.Sort((a, b) => (b.Width * b.Height).CompareTo(a.Width * a.Height));
        return boxes;
    }

    /// <summary>Intersection over union of two boxes.</summary>
    public static double Iou(Rect a, Rect b)
    {
        var inter = a & b;
        var i = (double)inter.Width * inter.Height;
        var union = (double)a.Width * a.Height + (double)b.Width * b.Height - i;
        return union > 0 ? i / union : 0;
    }

    public void Dispose()
    {
        _subtractor.Dispose();
        _small.Dispose();
        _mask.Dispose();
        _speck.Dispose();
        _join.Dispose();
    }
}
