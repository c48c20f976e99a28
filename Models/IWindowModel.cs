namespace Edge.Models;

/// <summary>
/// A model over windows of per-frame features, as the temporal stage uses it: <see cref="SequenceModel"/> (a GRU/LSTM
/// over embeddings) and <see cref="GridAnomaly.GridAnomalyModel"/> (the default anomaly model over embeddings and grids)
/// run on the caller's thread; a shared, batching one runs several streams' windows in one call.
/// </summary>
public interface IWindowModel
{
    ModelManifest Manifest { get; }

    bool IsAnomaly { get; }

    /// <summary>Frames in one window as the model reads it (an anomaly model reads the window and the frame after it).</summary>
    int InputFrames { get; }

    /// <summary>Values per frame: the embedding size, or the embedding and the grid when <see cref="ReadsGrid"/>.</summary>
    int FeatureSize { get; }

    /// <summary>
    /// True when each frame's feature is the frame model's embedding followed by its grid (<see cref="ModelManifest.Grid"/>);
    /// false when it is the embedding alone.
    /// </summary>
    bool ReadsGrid => false;

    /// <summary>
    /// True when each frame's feature continues after the grid with its cells' optical flow
    /// (<see cref="GridAnomaly.FlowFeatures"/>): the default anomaly model's pace term.
    /// </summary>
    bool ReadsFlow => false;

    /// <summary>The grid of the cell map <see cref="RunWithCellsAsync"/> gives; null for models that say only when, not where.</summary>
    GridDescription? CellGrid => null;

    /// <summary>Runs <paramref name="count"/> windows packed as [count, InputFrames, FeatureSize]; outputs row by row.</summary>
    ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct);

    /// <summary>
    /// Runs <paramref name="count"/> windows; returns the outputs of <see cref="RunAsync"/> and, for models with a
    /// <see cref="CellGrid"/>, the cell maps [count, H·W] (1 = the p99 of normal cells); an empty array otherwise.
    /// </summary>
    async ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, CancellationToken ct) =>
        new(await RunAsync(windows, count, ct).ConfigureAwait(false), []);

    /// <summary>
    /// <see cref="RunWithCellsAsync(float[], int, CancellationToken)"/> with, per window, how many of the model's
    /// learned frame intervals (<see cref="FrameIntervalMs"/>) lie between its last two frames (1 = consecutive; null =
    /// all 1). Models that read no gaps ignore them.
    /// </summary>
    ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, float[]? gaps, CancellationToken ct) =>
        RunWithCellsAsync(windows, count, ct);

    /// <summary>Median time between the frames the model learned from, in ms, for models that read gaps; null otherwise.</summary>
    double? FrameIntervalMs => null;
}

/// <summary>Outputs [N] (or [N, classes]) and cell maps [N, H·W] (row-major; empty without a cell map) of a batch of windows.</summary>
public sealed record WindowScores(float[] Scores, float[] Cells);
