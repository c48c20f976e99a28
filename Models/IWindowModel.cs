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
}
