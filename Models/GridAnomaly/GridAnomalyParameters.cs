namespace Edge.Models.GridAnomaly;

/// <summary>
/// How the default anomaly model is learned and scores (<see cref="GridAnomalyLearner"/>). Defaults were chosen on
/// the tuning seeds of the injected suite (see the report in Training/Evaluation/AnomalyEvaluation).
/// </summary>
/// <param name="ProjectedChannels">Channels after the fixed random projection of the (pooled) grid's channels.</param>
/// <param name="PoolRadius">Radius of the average pool over neighbouring cells applied before projection (0 = none).</param>
/// <param name="Neighbourhood">A cell's memory holds normal features of the cells within this many rows/columns of it.</param>
/// <param name="MemoryPerCell">Features kept per cell (greedy k-centre coreset).</param>
/// <param name="OwnBufferPerCell">Each cell's own features collected before they are reduced to <paramref name="MemoryPerCell"/>; bounds memory for any footage length.</param>
/// <param name="Steps">Frame-to-frame steps in a window: the model reads Steps + 1 frames.</param>
/// <param name="TopK">The frame's memory and motion terms are the means of their TopK largest cell values.</param>
/// <param name="BlockFrames">Normal footage is cut into blocks of this many frames; every <paramref name="HeldOutEvery"/>th block is held out of the memory to calibrate.</param>
/// <param name="MaxHeldOutFrames">At most this many held-out frames are kept (whole blocks, spread evenly) for calibration.</param>
/// <param name="Seed">Seed of the random projection.</param>
public sealed record GridAnomalyOptions(
    int ProjectedChannels = 32,
    int PoolRadius = 0,
    int Neighbourhood = 2,
    int MemoryPerCell = 128,
    int OwnBufferPerCell = 1024,
    int Steps = 4,
    int TopK = 50,
    int BlockFrames = 40,
    int HeldOutEvery = 5,
    int MaxHeldOutFrames = 1500,
    int Seed = 1)
{
    /// <summary>Keeps the logarithm of a frame-to-frame change finite for a frozen feed (identical frames).</summary>
    public const float MotionEpsilon = 1e-3f;
}

/// <summary>
/// Everything the scoring graph needs, learned from normal footage by <see cref="GridAnomalyLearner"/>; the C#
/// reference (<see cref="GridAnomalyScorer"/>) and the ONNX graph (<see cref="GridAnomalyGraph"/>) compute the same
/// scores from it.
/// </summary>
public sealed record GridAnomalyParameters
{
    public required GridDescription Grid { get; init; }

    public required GridAnomalyOptions Options { get; init; }

    /// <summary>Per-channel mean of the pooled grid [C].</summary>
    public required float[] ChannelMean { get; init; }

    /// <summary>Projection [C, D], row-major.</summary>
    public required float[] Projection { get; init; }

    /// <summary>Per-cell memory [H·W, K, D].</summary>
    public required float[] Memory { get; init; }

    /// <summary>Per-cell mean and std of held-out memory distances [H·W].</summary>
    public required float[] MemoryMean { get; init; }

    public required float[] MemoryStd { get; init; }

    /// <summary>Per-cell mean and std of log frame-to-frame change [H·W].</summary>
    public required float[] MotionMean { get; init; }

    public required float[] MotionStd { get; init; }

    /// <summary>Mean and std of the log mean change of the whole grid.</summary>
    public required float GlobalMean { get; init; }

    public required float GlobalStd { get; init; }

    /// <summary>
    /// Each frame term's held-out mean and p99: memory, cell motion, global motion; a term's relative value is
    /// (x − mean) / (p99 − mean), and the raw frame score is the largest of the three.
    /// </summary>
    public required float[] TermMean { get; init; }

    public required float[] TermP99 { get; init; }

    /// <summary>p99 of held-out cell values of the memory z and of |cell motion z|: the cell map's unit.</summary>
    public required float[] CellP99 { get; init; }

    /// <summary>Calibration of the raw frame score on held-out normal windows.</summary>
    public required AnomalyCalibration Calibration { get; init; }

    public required int FramesLearned { get; init; }

    public int Cells => Grid.Height * Grid.Width;

    public int InputFrames => Options.Steps + 1;
}
