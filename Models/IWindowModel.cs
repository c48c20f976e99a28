namespace Edge.Models;

/// <summary>
/// A sequence model over windows of frame embeddings, as the temporal stage uses it: <see cref="SequenceModel"/> runs
/// on the caller's thread; a shared, batching one runs several streams' windows in one call.
/// </summary>
public interface IWindowModel
{
    ModelManifest Manifest { get; }

    bool IsAnomaly { get; }

    /// <summary>Frames in one window as the model reads it (an anomaly model reads the window and the frame after it).</summary>
    int InputFrames { get; }

    int FeatureSize { get; }

    /// <summary>Runs <paramref name="count"/> windows packed as [count, InputFrames, FeatureSize]; outputs row by row.</summary>
    ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct);

    /// <summary>True when each frame's feature is the frame model's grid (<see cref="ModelManifest.Grid"/>), not its embedding.</summary>
    bool ReadsGrid => false;
}

/// <summary>
/// An anomaly model that also says where: besides the raw frame score it gives a cell score map per window
/// ([Grid.Height, Grid.Width], 1 = the p99 of normal cells), for <see cref="AnomalyMap"/>.
/// </summary>
public interface ICellMapModel : IWindowModel
{
    GridDescription Grid { get; }

    /// <summary>Runs <paramref name="count"/> windows; returns the raw scores [count] and the cell maps [count, H·W].</summary>
    ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, CancellationToken ct);
}

/// <summary>Raw frame scores [N] and cell maps [N, H·W] (row-major) of a batch of windows.</summary>
public sealed record WindowScores(float[] Scores, float[] Cells);
