using System.Globalization;
using Edge.Pipeline;
using OpenCvSharp;

namespace Edge.Host.Sinks;

/// <summary>The overlay of annotated video and live previews: stream, frame and time, activity, and an anomaly score bar.</summary>
public static class FrameAnnotation
{
    /// <summary>Draws on <paramref name="canvas"/>, a copy of the frame owned by the caller.</summary>
    public static void Draw(Mat canvas, FrameResult result)
    {
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
