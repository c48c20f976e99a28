using Edge.Capture;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Composition;

/// <summary>
/// A video's per-frame features exactly as the pipeline computes them at serving time (same source, frame model and
/// resize), for training and evaluation: the video runs through a <see cref="StreamAssembly"/> whose only sink keeps
/// the embeddings. Every frame, in order (lossless file mode).
/// </summary>
public static class VideoEmbedding
{
    /// <summary>The embeddings of every frame of <paramref name="video"/>: [rows × the frame model's embedding size].</summary>
    public static async Task<(float[] Values, int Rows)> EmbedAsync(string video, CaptureOptions capture, ModelCatalog models,
        ILoggerFactory logs, CancellationToken ct)
    {
        var collector = new EmbeddingCollector(models.Embedder.EmbeddingSize);
        await RunAsync(video, capture, models, logs, collector, ct).ConfigureAwait(false);
        return (collector.Values(), collector.Rows);
    }

    /// <summary>
    /// Runs every frame of <paramref name="video"/>, in order, through the stream serving would build (no object
    /// stage) into <paramref name="sink"/>, which sees each frame's result as serving's sinks do.
    /// </summary>
    public static async Task RunAsync(string video, CaptureOptions capture, ModelCatalog models, ILoggerFactory logs, IResultSink sink,
        CancellationToken ct)
    {
        var spec = new StreamSpec
        {
            Source = video,
            Capture = capture,
            Pipeline = new PipelineOptions { BatchSize = models.Embedder.MaxBatch, CaptureQueue = Math.Max(16, models.Embedder.MaxBatch) },
            ObjectStage = false,
            Outputs = new StreamOutputs { Extra = [sink] },
        };
        await using var stream = StreamAssembly.Build(spec, models, logs);
        var report = await stream.RunAsync(ct).ConfigureAwait(false);
        if (report.StoppedEarly)
        {
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Keeps every frame's embedding, in order.</summary>
    private sealed class EmbeddingCollector(int size) : IResultSink
    {
        private readonly List<float[]> _rows = [];

        public bool NeedsPixels => false;

        public int Rows => _rows.Count;

        public float[] Values()
        {
            var values = new float[_rows.Count * size];
            for (var i = 0; i < _rows.Count; i++)
            {
                _rows[i].CopyTo(values, i * size);
            }
            return values;
        }

        public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
        {
            _rows.Add(result.Embedding);
            return ValueTask.CompletedTask;
        }

        public ValueTask CompleteAsync(CancellationToken ct) => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
