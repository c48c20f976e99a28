using OpenCvSharp;

namespace Edge.Models;

/// <summary>
/// Embeds batches of frames with the frame model: <see cref="FrameEmbedder"/> runs the model directly; a shared,
/// batching embedder lets several streams' pipelines use one session.
/// </summary>
public interface IFrameEmbedder
{
    int EmbeddingSize { get; }

    /// <summary>Where the model runs (after any fallback).</summary>
    ExecutionProvider Provider { get; }

    /// <summary>The most images one call takes.</summary>
    int MaxBatch { get; }

    /// <summary>
    /// Embeddings of <paramref name="images"/>, one row of <see cref="EmbeddingSize"/> per image. The caller keeps
    /// the images alive and unchanged until the task completes, also when <paramref name="ct"/> is cancelled: the
    /// task ends only once nothing reads them any more.
    /// </summary>
    ValueTask<float[]> EmbedAsync(IReadOnlyList<Mat> images, CancellationToken ct);
}
