using Edge.Models;
using OpenCvSharp;

namespace Edge.Pipeline;

/// <summary>
/// One frame model session shared by many streams' pipelines, with batching across streams: each pipeline's CNN
/// stage hands over its (small) batch and awaits the result; the frames of several streams run as one model call of
/// up to <see cref="MaxBatch"/> frames (<see cref="RequestBatcher{TItem, TResult}"/>). Ten streams at 10 fps each thus
/// make a few calls of several frames instead of many calls of one, which is what a GPU (and, less so, a CPU) runs
/// fastest. Owns the <see cref="FrameEmbedder"/>; the images of a request stay the caller's, and are read only until
/// the request's task completes.
/// </summary>
public sealed class SharedEmbedder : IFrameEmbedder, IAsyncDisposable
{
    private readonly FrameEmbedder _model;
    private readonly RequestBatcher<Mat, float[]> _batcher;

    /// <param name="windowMs">How long a call waits for other streams' frames once it has one request.</param>
    /// <param name="onCall">Called after each model call with its duration in ms and its frame count (metrics).</param>
    public SharedEmbedder(FrameEmbedder model, double windowMs, Action<double, int>? onCall = null)
    {
        _model = model;
        _batcher = new RequestBatcher<Mat, float[]>(model.MaxBatch, TimeSpan.FromMilliseconds(windowMs), Embed, onCall);
    }

    public int EmbeddingSize => _model.EmbeddingSize;

    public int MaxBatch => _model.MaxBatch;

    public ExecutionProvider Provider => _model.Provider;

    public ModelManifest Manifest => _model.Manifest;

    /// <summary>Model calls so far.</summary>
    public long Calls => _batcher.Calls;

    /// <summary>Calls that failed and were run again request by request (one bad input fails only its own request).</summary>
    public long Retried => _batcher.Retried;

    /// <summary>Frames embedded so far.</summary>
    public long Frames => _batcher.Items;

    public GridDescription? Grid => _model.Grid;

    public async ValueTask<float[]> EmbedAsync(IReadOnlyList<Mat> images, CancellationToken ct)
    {
        var rows = await _batcher.SubmitAsync(images, ct).ConfigureAwait(false);
        var embeddings = new float[rows.Length * EmbeddingSize];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i].AsSpan(0, EmbeddingSize).CopyTo(embeddings.AsSpan(i * EmbeddingSize));
        }
        return embeddings;
    }

    public async ValueTask<FrameFeatures> EmbedFeaturesAsync(IReadOnlyList<Mat> images, CancellationToken ct)
    {
        var rows = await _batcher.SubmitAsync(images, ct).ConfigureAwait(false);
        var embeddings = new float[rows.Length * EmbeddingSize];
        var gridSize = Grid?.Size ?? 0;
        var grids = gridSize > 0 ? new float[rows.Length * gridSize] : null;
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i].AsSpan(0, EmbeddingSize).CopyTo(embeddings.AsSpan(i * EmbeddingSize));
            if (grids is not null)
            {
                rows[i].AsSpan(EmbeddingSize, gridSize).CopyTo(grids.AsSpan(i * gridSize));
            }
        }
        return new FrameFeatures(embeddings, grids);
    }

    /// <summary>
    /// One model call for every stream's frames: each row is the image's embedding followed by its grid when the
    /// model has one (the grid comes from the same forward pass; copying it out costs microseconds).
    /// </summary>
    private float[][] Embed(IReadOnlyList<Mat> images)
    {
        var rows = new float[images.Count][];
        if (_model.Grid is { } grid)
        {
            var embeddings = _model.EmbedWithGrid(images, out var grids);
            for (var i = 0; i < rows.Length; i++)
            {
                var row = new float[EmbeddingSize + grid.Size];
                embeddings.Slice(i * EmbeddingSize, EmbeddingSize).CopyTo(row);
                grids.Slice(i * grid.Size, grid.Size).CopyTo(row.AsSpan(EmbeddingSize));
                rows[i] = row;
            }
            return rows;
        }
        var only = _model.Embed(images);
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = only.Slice(i * EmbeddingSize, EmbeddingSize).ToArray();
        }
        return rows;
    }

    /// <summary>Stops taking requests, finishes the ones queued, then frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        await _batcher.DisposeAsync().ConfigureAwait(false);
        _model.Dispose();
    }
}
