using Edge.Capture;

namespace Edge.Pipeline;

/// <summary>What one run did, for the summary table and summary.json.</summary>
/// <param name="FrameAgeP50Ms">Time from capture to the end of inference, median over all frames.</param>
/// <param name="StoppedEarly">True when the run was stopped before its source ended.</param>
/// <param name="Objects">What the object stage did; null when it was off.</param>
public sealed record PipelineReport(
    string StreamId,
    SourceInfo Source,
    long FramesRead,
    long FramesProcessed,
    long FramesDropped,
    double ElapsedSeconds,
    string Provider,
    int BatchSize,
    int PoolSize,
    int PoolPeak,
    double FrameAgeP50Ms,
    double FrameAgeP99Ms,
    bool StoppedEarly,
    IReadOnlyList<StageSnapshot> Stages,
    ObjectStats? Objects = null)
{
    public double Fps => ElapsedSeconds > 0 ? FramesProcessed / ElapsedSeconds : 0;
}
