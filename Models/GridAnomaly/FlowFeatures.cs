namespace Edge.Models.GridAnomaly;

/// <summary>
/// The per-frame optical-flow features the anomaly model's pace term reads, as the pipeline measures them
/// (Edge.Pipeline.CellFlow) and a feature recording keeps them: for each cell of the frame model's grid, row-major, the
/// mean flow length of its moving pixels (pixels of a frame scaled to <see cref="WorkingWidth"/> wide, since the
/// previous processed frame; 0 when none moves) and the share of its pixels that move. A model records the working
/// width it learned at (<see cref="GridAnomalyDescription.FlowWidth"/>): lengths at another width are not comparable.
/// </summary>
public static class FlowFeatures
{
    /// <summary>
    /// Frames are scaled to this width for the flow: about 2 ms a frame on one core (1.4 of it Farnebäck's). On the tuning seeds 96 pixels ranked
    /// anomalies better than 128 or 192 (2.7 and 8 ms), whose finer motion is more of the walkers' own sway.
    /// </summary>
    public const int WorkingWidth = 96;

    /// <summary>A pixel moves when its flow is longer than this (pixels at <see cref="WorkingWidth"/>).</summary>
    public const float MovingPixels = 0.15f;

    /// <summary>Values per frame for a grid of <paramref name="height"/> × <paramref name="width"/> cells.</summary>
    public static int Size(int height, int width) => 2 * height * width;

    public static int Size(GridDescription grid) => Size(grid.Height, grid.Width);
}
