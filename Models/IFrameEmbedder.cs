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

    /// <summary>The spatial feature map the frame model gives beside each embedding; null when it gives none.</summary>
    GridDescription? Grid => null;

    /// <summary>
    /// Embeddings and, when the model has a <see cref="Grid"/>, each image's grid from the same forward pass (null
    /// otherwise). Same ownership rules as <see cref="EmbedAsync"/>. Embedders without grids need not implement it.
    /// </summary>
    async ValueTask<FrameFeatures> EmbedFeaturesAsync(IReadOnlyList<Mat> images, CancellationToken ct) =>
        new(await EmbedAsync(images, ct).ConfigureAwait(false), null);
}

/// <summary>
/// A batch's features: <paramref name="Embeddings"/> one row of the embedding size per image; <paramref name="Grids"/>
/// one <see cref="GridDescription.Size"/> block per image (cells row-major, channels contiguous), or null.
/// </summary>
public sealed record FrameFeatures(float[] Embeddings, float[]? Grids);
