using OpenCvSharp;

namespace Edge.Models;

/// <summary>
/// Where a frame is anomalous, from a grid anomaly model's cell score map ([Height, Width], row-major, on the
/// calibrated scale: 0 = typical normal, 1 = the p99 of normal). The frame model sees the frame resized to its
/// square input, so cell (r, c) covers the frame's pixels [c·W/width, (c+1)·W/width) × [r·H/height, (r+1)·H/height)
/// whatever the frame's aspect ratio.
/// </summary>
public static class AnomalyMap
{
    /// <summary>The frame pixels cell (<paramref name="row"/>, <paramref name="column"/>) covers.</summary>
    public static Rect CellBox(int row, int column, int height, int width, int frameWidth, int frameHeight)
    {
        var x0 = column * frameWidth / width;
        var y0 = row * frameHeight / height;
        var x1 = (column + 1) * frameWidth / width;
        var y1 = (row + 1) * frameHeight / height;
        return new Rect(x0, y0, x1 - x0, y1 - y0);
    }

    /// <summary>
    /// The anomalous region as a box in frame pixels: the 8-connected group of cells scoring at least
    /// max(<paramref name="threshold"/>, <paramref name="relative"/> · the peak) around the peak cell, or null when no
    /// cell reaches <paramref name="threshold"/>. One box per frame: the strongest region, the one a snapshot shows.
    /// </summary>
    public static Rect? Region(ReadOnlySpan<float> cells, int height, int width, int frameWidth, int frameHeight,
        double threshold = 1.0, double relative = 0.5)
    {
        if (cells.Length != height * width)
        {
            throw new ArgumentException($"{cells.Length} cell scores are not a {height}×{width} grid", nameof(cells));
        }
        var peak = 0;
        for (var i = 1; i < cells.Length; i++)
        {
            if (cells[i] > cells[peak])
            {
                peak = i;
            }
        }
        if (!(cells[peak] >= threshold))
        {
            return null;
        }
        var cut = Math.Max(threshold, relative * cells[peak]);
        var seen = new bool[cells.Length];
        var stack = new Stack<int>();
        stack.Push(peak);
        seen[peak] = true;
        int top = height, left = width, bottom = -1, right = -1;
        while (stack.Count > 0)
        {
            var cell = stack.Pop();
            var (r, c) = (cell / width, cell % width);
            (top, bottom, left, right) = (Math.Min(top, r), Math.Max(bottom, r), Math.Min(left, c), Math.Max(right, c));
            for (var dr = -1; dr <= 1; dr++)
            {
                for (var dc = -1; dc <= 1; dc++)
                {
                    var (nr, nc) = (r + dr, c + dc);
                    if (nr < 0 || nr >= height || nc < 0 || nc >= width)
                    {
                        continue;
                    }
                    var next = nr * width + nc;
                    if (!seen[next] && cells[next] >= cut)
                    {
                        seen[next] = true;
                        stack.Push(next);
                    }
                }
            }
        }
        var first = CellBox(top, left, height, width, frameWidth, frameHeight);
        var last = CellBox(bottom, right, height, width, frameWidth, frameHeight);
        return new Rect(first.X, first.Y, last.Right - first.X, last.Bottom - first.Y);
    }

    /// <summary>
    /// Draws the cell map over <paramref name="frame"/> (8-bit BGR, changed in place) as a heatmap: cells are scaled
    /// so that 0 is transparent and <paramref name="full"/> (default 2, twice the p99 of normal) is the hottest colour,
    /// resized smoothly to the frame and blended with up to <paramref name="opacity"/>; the region, if any, is outlined.
    /// </summary>
    public static void Overlay(Mat frame, ReadOnlySpan<float> cells, int height, int width, double full = 2.0, double opacity = 0.6,
        double threshold = 1.0)
    {
        if (frame.Type() != MatType.CV_8UC3)
        {
            throw new ArgumentException($"frame is {frame.Type()}, the overlay draws on 8-bit BGR", nameof(frame));
        }
        if (cells.Length != height * width)
        {
            throw new ArgumentException($"{cells.Length} cell scores are not a {height}×{width} grid", nameof(cells));
        }
        var scaled = new byte[cells.Length];
        for (var i = 0; i < cells.Length; i++)
        {
            scaled[i] = (byte)Math.Clamp(cells[i] / full * 255, 0, 255);
        }
        using var small = Mat.FromPixelData(height, width, MatType.CV_8UC1, scaled);
        using var large = new Mat();
        Cv2.Resize(small, large, frame.Size(), interpolation: InterpolationFlags.Linear);
        using var colours = new Mat();
        Cv2.ApplyColorMap(large, colours, ColormapTypes.Jet);
        // Per-pixel opacity follows the score, so normal parts of the picture stay as they are.
        using var alpha = new Mat();
        large.ConvertTo(alpha, MatType.CV_32FC1, opacity / 255.0);
        using var alpha3 = new Mat();
        Cv2.Merge([alpha, alpha, alpha], alpha3);
        using var frameF = new Mat();
        using var coloursF = new Mat();
        frame.ConvertTo(frameF, MatType.CV_32FC3);
        colours.ConvertTo(coloursF, MatType.CV_32FC3);
        using var inverse = new Mat();
        Cv2.Subtract(Scalar.All(1.0), alpha3, inverse);
        using var blended = new Mat();
        Cv2.Multiply(frameF, inverse, frameF);
        Cv2.Multiply(coloursF, alpha3, coloursF);
        Cv2.Add(frameF, coloursF, blended);
        blended.ConvertTo(frame, MatType.CV_8UC3);
        if (Region(cells, height, width, frame.Width, frame.Height, threshold) is { } box)
        {
            Cv2.Rectangle(frame, box, new Scalar(255, 255, 255), 2);
        }
    }
}
