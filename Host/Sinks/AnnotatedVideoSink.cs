using System.Globalization;
using Edge.Pipeline;
using OpenCvSharp;

namespace Edge.Host.Sinks;

/// <summary>
/// Writes annotated.mp4 (MPEG-4 Part 2, "mp4v": the codec OpenCV's bundled FFmpeg can encode): the frame with its
/// object boxes, labels and confidences, the stream/frame/time line and the analysis. Each frame is copied
/// to a canvas owned by this sink and drawn on there, so the pooled frame itself is never changed. The writer opens
/// at the first frame, with that frame's size.
/// </summary>
public sealed class AnnotatedVideoSink : IResultSink
{
    public const string VideoFile = "annotated.mp4";

    /// <summary>Green (BGR) for object boxes and their labels.</summary>
    public static readonly Scalar ObjectColor = new(0, 255, 0);

    private readonly string _path;
    private readonly double _fps;
    private readonly Mat _canvas = new();
    private VideoWriter? _writer;

    public AnnotatedVideoSink(OutputDirectory output, double fps)
    {
        _path = output.StagingPath(VideoFile);
        _fps = fps > 0 ? fps : 10;
    }

    public bool NeedsPixels => true;

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        var image = result.Pixels?.Image ?? throw new InvalidOperationException("annotation needs the frame pixels");
        if (_writer is null)
        {
            _writer = new VideoWriter(_path, FourCC.FromString("mp4v"), _fps, image.Size());
            if (!_writer.IsOpened())
            {
                throw new OutputException($"cannot open a video writer for {_path}");
            }
        }
        image.CopyTo(_canvas);
        Draw(_canvas, result);
        _writer.Write(_canvas);
        return ValueTask.CompletedTask;
    }

    private static void Draw(Mat canvas, FrameResult result)
    {
        foreach (var o in result.Objects)
        {
            var box = Rect.FromLTRB(o.BoxXyxy[0], o.BoxXyxy[1], o.BoxXyxy[2], o.BoxXyxy[3]);
            Cv2.Rectangle(canvas, box, ObjectColor, 2);
            var label = string.Create(CultureInfo.InvariantCulture, $"{o.Label} {o.Confidence:0.00}");
            var size = Cv2.GetTextSize(label, HersheyFonts.HersheySimplex, 0.45, 1, out var baseline);
            // Above the box when there is room, else inside its top edge.
            var top = box.Top - size.Height - baseline - 4 >= 0 ? box.Top - size.Height - baseline - 4 : box.Top;
            Cv2.Rectangle(canvas, new Rect(box.Left, top, size.Width + 6, size.Height + baseline + 4), ObjectColor, -1);
            Cv2.PutText(canvas, label, new Point(box.Left + 3, top + size.Height + 2), HersheyFonts.HersheySimplex, 0.45, Scalar.Black, 1, LineTypes.AntiAlias);
        }
        var seconds = TimeSpan.FromMilliseconds(result.TimestampMs);
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"{result.StreamId}  #{result.Index}  {seconds:hh\\:mm\\:ss\\.fff}"),
        };
        if (result.Analysis is { Activity: { } activity })
        {
            lines.Add(string.Create(CultureInfo.InvariantCulture, $"activity: {activity} {result.Analysis.ActivityConfidence:0.00}"));
        }
        var y = 8;
        foreach (var line in lines)
        {
            var size = Cv2.GetTextSize(line, HersheyFonts.HersheySimplex, 0.6, 1, out var baseline);
            Cv2.Rectangle(canvas, new Rect(4, y, size.Width + 8, size.Height + baseline + 6), Scalar.Black, -1);
            Cv2.PutText(canvas, line, new Point(8, y + size.Height + 3), HersheyFonts.HersheySimplex, 0.6, Scalar.White, 1, LineTypes.AntiAlias);
            y += size.Height + baseline + 10;
        }
        if (result.Analysis is { AnomalyScore: { } score })
        {
            // Anomaly score bar along the bottom edge: green to red.
            var width = (int)(Math.Clamp(score, 0, 1) * (canvas.Width - 16));
            Cv2.Rectangle(canvas, new Rect(8, canvas.Height - 18, canvas.Width - 16, 10), Scalar.Gray, 1);
            Cv2.Rectangle(canvas, new Rect(8, canvas.Height - 18, Math.Max(width, 1), 10), new Scalar(0, 255 * (1 - score), 255 * score), -1);
        }
    }

    public ValueTask CompleteAsync(CancellationToken ct) => DisposeAsync();

    public ValueTask DisposeAsync()
    {
        _writer?.Release();
        _writer?.Dispose();
        _writer = null;
        _canvas.Dispose();
        return ValueTask.CompletedTask;
    }
}
