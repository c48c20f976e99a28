using Edge.Capture;
using Edge.Models;
using Edge.Models.GridAnomaly;
using Edge.Pipeline.Outputs;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Composition;

/// <summary>
/// Learning the default anomaly model from normal footage (<c>edge learn</c>, and each stream of <c>edge run</c> that
/// learns at its site): the footage's features recorded through the same stream assembly as serving (same decoder,
/// same frame model, same resize), then <see cref="GridAnomalyLearner"/> in plain C#, then the model written as ONNX.
/// Needs no deep-learning runtime: it runs in a serving bundle.
/// </summary>
public static class AnomalyLearning
{
    /// <summary>Records every frame of each video (one segment per video) into <paramref name="folder"/>.</summary>
    public static async Task<FeatureRecording> RecordAsync(IReadOnlyList<string> videos, string folder, CaptureOptions capture,
        ModelCatalog models, ILoggerFactory logs, CancellationToken ct)
    {
        var grid = models.FrameModel.Grid ?? throw new ModelException(ModelError.Invalid,
            "the frame model gives no grid; prepare it again (`edge models prepare --force`) to learn anomaly models");
        var recorder = new FeatureRecorder(folder, models.FrameModel.EmbeddingSize, grid, flow: true);
        try
        {
            foreach (var video in videos)
            {
                await VideoEmbedding.RunAsync(video, capture, models, logs, new FeatureRecordingSink(recorder), ct).ConfigureAwait(false);
                recorder.EndSegment();
            }
            var recording = recorder.Finish();
            WarnOfMixedRates(videos, recorder.SegmentIntervalsMs, recording.FrameIntervalMs, logs.CreateLogger("Edge.Learn"));
            return recording;
        }
        finally
        {
            recorder.Dispose();
        }
    }

    /// <summary>
    /// One camera's footage comes at one rate. Videos at rates more than 10 % from the recording's (the median frame
    /// step) are named in a warning: the model reads motion at that one rate, so the others' motion is read through
    /// their gaps (a 30 fps video's frames a third of a step apart), which the terms were not measured on.
    /// </summary>
    private static void WarnOfMixedRates(IReadOnlyList<string> videos, IReadOnlyList<double?> intervalsMs, double? recordingMs, ILogger logger)
    {
        if (recordingMs is not { } step || step <= 0)
        {
            return;
        }
        var others = videos.Zip(intervalsMs).Where(v => v.Second is { } ms && Math.Abs(ms / step - 1) > 0.1)
            .Select(v => $"{Path.GetFileName(v.First)} ({1000 / v.Second!.Value:0.##} fps)").ToList();
        if (others.Count > 0)
        {
            logger.LogWarning("The videos do not share one frame rate: the model reads motion at {Fps:0.##} fps, and {Others} differ; learn each camera from its own footage",
                1000 / step, string.Join(", ", others));
        }
    }

    /// <summary>
    /// Learns from <paramref name="recording"/> and writes model and manifest to <paramref name="outputPath"/> (through
    /// temporary files: nothing is written unless learning succeeds). Throws <see cref="TrainingDataException"/> when
    /// the footage is too short or too uniform to calibrate.
    /// </summary>
    public static (ModelManifest Manifest, GridAnomalyLearner.Report Report) Learn(FeatureRecording recording, string outputPath,
        ModelManifest frameModel, string source, GridAnomalyOptions? options = null, IProgress<string>? progress = null, CancellationToken ct = default)
    {
        var (parameters, report) = GridAnomalyLearner.Learn(recording, options, progress, ct);
        var manifest = GridAnomalyGraph.Save(parameters, outputPath, frameModel, $"{source}; {report.Frames} normal frames, {report.HeldOutFrames} held out to calibrate");
        return (manifest, report);
    }
}
