using Edge.Capture;
using Edge.Models;
using Edge.Models.GridAnomaly;

namespace Edge.Pipeline;

/// <summary>
/// The offline learner behind <c>edge learn NORMAL_VIDEO... --out M</c>: reads normal footage through the same
/// capture and frame model as serving (<see cref="FrameSources"/>, <see cref="FrameEmbedder.EmbedWithGrid"/>: same
/// decoder, same resize, same layer), learns the default grid anomaly model in plain C#
/// (<see cref="GridAnomalyLearner"/>), calibrates it on held-out normal windows and writes model and manifest through
/// temporary files. Needs no TorchSharp: it runs inside a serving bundle.
/// </summary>
public static class AnomalyLearning
{
    /// <summary>
    /// Learns from <paramref name="videos"/> (each a separate recording) and writes the model to
    /// <paramref name="outputPath"/> with its manifest beside it. Throws <see cref="TrainingDataException"/> when
    /// the footage is too short or too uniform to calibrate, <see cref="ModelException"/> when the frame model has
    /// no grid. Nothing is written unless learning succeeds.
    /// </summary>
    public static ModelManifest LearnFromVideos(IReadOnlyList<string> videos, FrameEmbedder embedder, string outputPath,
        GridAnomalyOptions? options = null, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        var grid = embedder.Grid ?? throw new ModelException(ModelError.Invalid,
            "the frame model has no grid output; prepare it again (`edge models prepare --force`) to learn anomaly models");
        var learner = new GridAnomalyLearner(grid, options);
        foreach (var video in videos)
        {
            Feed(video, embedder, learner, progress, ct);
            learner.EndSequence();
        }
        var parameters = learner.Learn();
        return GridAnomalyGraph.Save(parameters, outputPath, embedder.Manifest,
            $"learned from {string.Join(", ", videos.Select(Path.GetFileName))} ({parameters.FramesLearned} frames), {DateTime.UtcNow:yyyy-MM-dd}");
    }

    /// <summary>Feeds every frame's grid of one recording to the learner, in order.</summary>
    public static void Feed(string video, FrameEmbedder embedder, GridAnomalyLearner learner, IProgress<long>? progress = null, CancellationToken ct = default)
    {
        using var source = FrameSources.Open(video, new CaptureOptions());
        using var pool = new FramePool(embedder.MaxBatch + 1);
        var batch = new List<Frame>();
        var size = embedder.Grid!.Size;
        try
        {
            while (true)
            {
                var frame = source.Read(pool, ct);
                if (frame is not null)
                {
                    batch.Add(frame);
                }
                if (batch.Count == embedder.MaxBatch || (frame is null && batch.Count > 0))
                {
                    embedder.EmbedWithGrid([.. batch.Select(f => f.Image)], out var grids);
                    for (var i = 0; i < batch.Count; i++)
                    {
                        learner.Add(grids.Slice(i * size, size));
                    }
                    batch.ForEach(f => f.Dispose());
                    batch.Clear();
                    progress?.Report(learner.Frames);
                }
                if (frame is null)
                {
                    break;
                }
            }
        }
        finally
        {
            batch.ForEach(f => f.Dispose());
        }
    }
}
