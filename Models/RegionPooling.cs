namespace Edge.Models;

/// <summary>
/// A region's features from the frame model's spatial grid (<see cref="GridDescription"/>), computed by the same
/// forward pass as the frame's embedding: the grid covers the whole frame as the model saw it (squashed to its input
/// size), so a box in frame pixels maps onto the cells by scaling each axis. Each cell counts by the share of its area
/// the box covers, so a box smaller than a cell still reads the cell it lies in; the output is that weighted mean of
/// the cells' channel vectors, as the frame model's own embedding is the mean of its last grid.
/// </summary>
public static class RegionPooling
{
    /// <summary>Pools <paramref name="grid"/> (cells row-major, channels contiguous) under the box into <paramref name="output"/> (grid channels long).</summary>
    public static void Pool(ReadOnlySpan<float> grid, GridDescription description, int frameWidth, int frameHeight,
        int x1, int y1, int x2, int y2, Span<float> output)
    {
        var channels = description.Channels;
        if (grid.Length != description.Size || output.Length != channels)
        {
            throw new ArgumentException($"a grid of {description.Size} floats and an output of {channels} are needed (got {grid.Length} and {output.Length})");
        }
        output.Clear();
        // The box in cell units, clamped to the frame and at least a tenth of a cell wide and high.
        var sx = description.Width / (double)frameWidth;
        var sy = description.Height / (double)frameHeight;
        var left = Math.Clamp(x1 * sx, 0, description.Width);
        var right = Math.Clamp(x2 * sx, 0, description.Width);
        var top = Math.Clamp(y1 * sy, 0, description.Height);
        var bottom = Math.Clamp(y2 * sy, 0, description.Height);
        if (right - left < 0.1)
        {
            var centre = Math.Clamp((left + right) / 2, 0.05, description.Width - 0.05);
            (left, right) = (centre - 0.05, centre + 0.05);
        }
        if (bottom - top < 0.1)
        {
            var centre = Math.Clamp((top + bottom) / 2, 0.05, description.Height - 0.05);
            (top, bottom) = (centre - 0.05, centre + 0.05);
        }
        double total = 0;
        for (var row = (int)Math.Floor(top); row < Math.Min(description.Height, (int)Math.Ceiling(bottom)); row++)
        {
            var h = Math.Min(bottom, row + 1) - Math.Max(top, row);
            for (var col = (int)Math.Floor(left); col < Math.Min(description.Width, (int)Math.Ceiling(right)); col++)
            {
                var weight = (float)(h * (Math.Min(right, col + 1) - Math.Max(left, col)));
                if (weight <= 0)
                {
                    continue;
                }
                total += weight;
                var cell = grid.Slice((row * description.Width + col) * channels, channels);
                for (var c = 0; c < channels; c++)
                {
                    output[c] += weight * cell[c];
                }
            }
        }
        if (total <= 0)
        {
            return;
        }
        var scale = (float)(1 / total);
        for (var c = 0; c < channels; c++)
        {
            output[c] *= scale;
        }
    }
}
