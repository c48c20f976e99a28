using System.Globalization;
using Edge.Pipeline;
using OpenCvSharp;

namespace Edge.Pipeline.Outputs;

/// <summary>
/// The overlay of annotated video and live previews: object boxes with label and confidence, stream, frame and time,
/// activity, and an anomaly score bar.
/// </summary>
public static class FrameAnnotation
{
    /// <summary>Green (BGR) for object boxes and their labels.</summary>
    public static readonly Scalar ObjectColor = new(0, 255, 0);

    /// <summary>A bright colour (BGR) of its own for a track id: hues spaced by the golden angle.</summary>
    public static Scalar TrackColour(long id)
    {
        using var hsv = new Mat(1, 1, MatType.CV_8UC3, new Scalar((id * 137.508) % 180, 220, 255));
        using var bgr = new Mat();
        Cv2.CvtColor(hsv, bgr, ColorConversionCodes.HSV2BGR);
        var pixel = bgr.At<Vec3b>(0, 0);
        return new Scalar(pixel.Item0, pixel.Item1, pixel.Item2);
    }

    /// <summary>Cyan (BGR) for zones, yellow for lines.</summary>
    public static readonly Scalar ZoneColour = new(255, 255, 0);

    public static readonly Scalar LineColour = new(0, 220, 255);

    /// <summary>
    /// Zones as outlines with their name and how many are inside; lines with an arrow from their first point to their
    /// second (a crossing from its left to its right is "→") and their counts each way.
    /// </summary>
    private static void DrawZones(Mat canvas, Zones.ZoneLayout layout, Zones.ZoneCounters? counts)
    {
        foreach (var zone in layout.Zones)
        {
            var points = zone.Polygon.Select(p => new Point((int)p.X, (int)p.Y)).ToArray();
            Cv2.Polylines(canvas, [points], true, ZoneColour, 2, LineTypes.AntiAlias);
            var count = counts?.Zones.FirstOrDefault(z => z.Name == zone.Name);
            Label(canvas, count is null ? zone.Name : string.Create(CultureInfo.InvariantCulture, $"{zone.Name} {count.Occupancy} in, {count.Entries} entered"),
                new Point(points.Min(p => p.X) + 4, points.Min(p => p.Y) + 18), ZoneColour);
        }
        foreach (var line in layout.Lines)
        {
            var (from, to) = (new Point((int)line.From.X, (int)line.From.Y), new Point((int)line.To.X, (int)line.To.Y));
            Cv2.ArrowedLine(canvas, from, to, LineColour, 2, LineTypes.AntiAlias, 0, 0.04);
            var count = counts?.Lines.FirstOrDefault(l => l.Name == line.Name);
            Label(canvas, count is null ? line.Name : string.Create(CultureInfo.InvariantCulture, $"{line.Name} {count.LeftToRight}> {count.RightToLeft}<"),
                new Point((from.X + to.X) / 2 + 6, (from.Y + to.Y) / 2), LineColour);
        }
    }

    private static void Label(Mat canvas, string text, Point at, Scalar colour)
    {
        Cv2.PutText(canvas, text, at, HersheyFonts.HersheySimplex, 0.5, Scalar.Black, 3, LineTypes.AntiAlias);
        Cv2.PutText(canvas, text, at, HersheyFonts.HersheySimplex, 0.5, colour, 1, LineTypes.AntiAlias);
    }

    /// <summary>Draws on <paramref name="canvas"/>, a copy of the frame owned by the caller.</summary>
    public static void Draw(Mat canvas, FrameResult result)
    {
        // Where the anomaly model sees something unusual: cells above their normal p99 as a heatmap, drawn first so
        // boxes and text stay readable, on frames the model flags (score at or above 1.0).
        if (result.Analysis is { AnomalyCells: { } cells, CellRows: > 0, AnomalyScore: >= 1f } map && canvas.Type() == MatType.CV_8UC3)
        {
            Edge.Models.AnomalyMap.Overlay(canvas, cells, map.CellRows, map.CellColumns);
        }
        if (result.ZoneLayout is { } layout)
        {
            DrawZones(canvas, layout, result.ZoneCounts);
        }
        foreach (var t in result.Tracks)
        {
            // Tracks first, so the object stage's green boxes stay on top. One colour per identity (a fixed hue from the id), the id above the box, the recent path of its centre.
            var colour = TrackColour(t.Id);
            var box = Rect.FromLTRB((int)t.Box.X1, (int)t.Box.Y1, (int)t.Box.X2, (int)t.Box.Y2);
            Cv2.Rectangle(canvas, box, colour, t.Matched ? 2 : 1);
            if (t.Trail.Length > 1)
            {
                Cv2.Polylines(canvas, [t.Trail.Select(p => new Point((int)p.X, (int)p.Y))], false, colour, 2, LineTypes.AntiAlias);
            }
            var name = result.TrackActivities.TryGetValue(t.Id, out var trackActivity)
                ? string.Create(CultureInfo.InvariantCulture, $"#{t.Id} {trackActivity.Label} {trackActivity.Confidence:0.00}")
                : string.Create(CultureInfo.InvariantCulture, $"#{t.Id}");
            Cv2.PutText(canvas, name, new Point(box.Left + 3, Math.Max(box.Top - 5, 12)),
                HersheyFonts.HersheySimplex, 0.5, colour, 2, LineTypes.AntiAlias);
        }
        foreach (var o in result.Objects)
        {
            var box = Rect.FromLTRB(o.BoxXyxy[0], o.BoxXyxy[1], o.BoxXyxy[2], o.BoxXyxy[3]);
            Cv2.Rectangle(canvas, box, ObjectColor, 2);
            var label = string.Create(CultureInfo.InvariantCulture, $"{o.Label} {o.Confidence:0.00}");
            var labelSize = Cv2.GetTextSize(label, HersheyFonts.HersheySimplex, 0.45, 1, out var labelBaseline);
            // Above the box when there is room, else inside its top edge.
            var top = box.Top - labelSize.Height - labelBaseline - 4 >= 0 ? box.Top - labelSize.Height - labelBaseline - 4 : box.Top;
            Cv2.Rectangle(canvas, new Rect(box.Left, top, labelSize.Width + 6, labelSize.Height + labelBaseline + 4), ObjectColor, -1);
            Cv2.PutText(canvas, label, new Point(box.Left + 3, top + labelSize.Height + 2), HersheyFonts.HersheySimplex, 0.45, Scalar.Black, 1, LineTypes.AntiAlias);
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
}
