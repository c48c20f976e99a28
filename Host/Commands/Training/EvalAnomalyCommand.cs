using Edge.Pipeline;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline.Events;
using Edge.Training;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using OpenCvSharp;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge eval anomaly</c>: scores every frame of a test video with the anomaly model (each frame as the predicted
/// frame after its window) and with a non-learned baseline measured in the same run (mean absolute difference to
/// the previous frame), then reports frame-level ROC AUC and event-level precision and recall against the
/// ground-truth file, with a score timeline and ROC curves.
/// </summary>
public static class EvalAnomalyCommand
{
    public sealed record Arguments(string Video, string GroundTruth, string Model, string? Out);

    public sealed record MethodResult(string Method, double FrameAuc, int Events, double Precision, double Recall);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        if (!File.Exists(args.GroundTruth))
        {
            throw new TrainingDataException($"ground-truth file not found: {args.GroundTruth}");
        }
        var truth = AnomalyInjector.GroundTruth.Load(args.GroundTruth);
        using var models = context.OpenModels();
        var embedder = models.FrameModel;
        using var model = SequenceModel.Open(args.Model, embedder.EmbeddingSize, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        if (!model.IsAnomaly)
        {
            throw new ModelException(ModelError.Invalid, $"{args.Model} is not an anomaly model");
        }
        var (values, rows) = context.EmbedVideo(models, args.Video, new CaptureOptions(), ct);
        var sequence = new SequenceTrainer.Sequence(args.Video, values, rows, 0);
        if (sequence.Rows != truth.Frames)
        {
            throw new TrainingDataException($"{args.GroundTruth} describes {truth.Frames} frames but {args.Video} has {sequence.Rows}");
        }
        var calibration = model.Manifest.Anomaly!;
        var learned = LearnedScores(model, sequence, calibration);
        var baseline = FrameDifferences(args.Video, truth.Frames);
        var output = args.Out ?? Path.Combine("out", "eval", Path.GetFileNameWithoutExtension(args.Video));
        Directory.CreateDirectory(output);

        var labels = Enumerable.Range(0, truth.Frames).Select(truth.IsAnomalous).ToArray();
        var scored = Enumerable.Range(0, truth.Frames).Where(i => !double.IsNaN(learned[i]) && !double.IsNaN(baseline[i])).ToArray();
        var results = new List<MethodResult>();
        var curves = new List<(string, double[], double[], double)>();
        // The baseline has no calibration of its own: its threshold is the 90th percentile of its scores on this video
        // (blind to the ground truth). The learned score uses the model's calibration (1.0 = p99 of normal windows).
        var baselineScale = BaselineScale([.. baseline.Where(v => !double.IsNaN(v))], 0.9);
        foreach (var (method, scores, enterScale) in new[] { ("learned", learned, 1.0), ("frame difference", baseline, baselineScale) })
        {
            var (fpr, tpr, auc) = Metrics.Roc([.. scored.Select(i => scores[i])], [.. scored.Select(i => labels[i])]);
            curves.Add((method, fpr, tpr, auc));
            var events = Events(scores, truth, context.Get<Edge.Pipeline.Events.EventRules>(), enterScale);
            var truePositives = events.Count(e => truth.Anomalies.Any(a => e.StartFrame <= a.EndFrame && e.EndFrame >= a.StartFrame));
            var found = truth.Anomalies.Count(a => events.Any(e => e.StartFrame <= a.EndFrame && e.EndFrame >= a.StartFrame));
            results.Add(new MethodResult(method, auc, events.Count, events.Count == 0 ? 0 : truePositives / (double)events.Count, found / (double)truth.Anomalies.Length));
        }
        Plots.Timeline(learned, baseline.Select(v => v / baselineScale).ToArray(), truth.Anomalies.Select(a => (a.StartFrame, a.EndFrame, a.Kind)).ToList(),
            Path.Combine(output, "timeline.png"), $"{Path.GetFileName(args.Video)}: scores (1.0 = threshold) and injected anomalies");
        Plots.Rocs(curves, Path.Combine(output, "roc.png"), "frame-level ROC");

        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("method", "frame ROC AUC", "events", "event precision", "event recall");
        foreach (var r in results)
        {
            table.AddRow(r.Method, r.FrameAuc.ToString("0.000", c), r.Events.ToString(c), r.Precision.ToString("0.00", c), r.Recall.ToString("0.00", c));
        }
        AnsiConsole.Write(table);
        File.WriteAllText(Path.Combine(output, "eval-anomaly.json"), JsonSerializer.Serialize(new { video = args.Video, model = args.Model, frames = truth.Frames, results },
            new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.WriteLine($"timeline.png, roc.png and eval-anomaly.json in {Path.GetFullPath(output)}");
        return ExitCodes.Ok;
    }

    /// <summary>Each frame's score as the predicted frame after its window, on the calibrated scale; NaN before the first window.</summary>
    private static double[] LearnedScores(SequenceModel model, SequenceTrainer.Sequence sequence, AnomalyCalibration calibration)
    {
        var features = sequence.Values.Length / sequence.Rows;
        var scores = Enumerable.Repeat(double.NaN, sequence.Rows).ToArray();
        var frames = model.InputFrames;
        var starts = Enumerable.Range(0, Math.Max(0, sequence.Rows - frames + 1)).ToArray();
        foreach (var chunk in starts.Chunk(64))
        {
            var windows = new float[chunk.Length * frames * features];
            for (var i = 0; i < chunk.Length; i++)
            {
                sequence.Values.AsSpan(chunk[i] * features, frames * features).CopyTo(windows.AsSpan(i * frames * features));
            }
            var raw = model.Run(windows, chunk.Length);
            for (var i = 0; i < chunk.Length; i++)
            {
                scores[chunk[i] + frames - 1] = calibration.Relative(raw[i]);
            }
        }
        return scores;
    }

    /// <summary>Mean absolute grey-level difference to the previous frame at quarter size; NaN for the first frame.</summary>
    private static double[] FrameDifferences(string video, int frames)
    {
        using var capture = new VideoCapture(video);
        var scores = Enumerable.Repeat(double.NaN, frames).ToArray();
        using var frame = new Mat();
        using var grey = new Mat();
        var previous = new Mat();
        var current = new Mat();
        using var difference = new Mat();
        try
        {
            for (var i = 0; i < frames && capture.Read(frame); i++)
            {
                Cv2.CvtColor(frame, grey, ColorConversionCodes.BGR2GRAY);
                Cv2.Resize(grey, current, new OpenCvSharp.Size(frame.Width / 4, frame.Height / 4), interpolation: InterpolationFlags.Area);
                if (i > 0)
                {
                    Cv2.Absdiff(current, previous, difference);
                    scores[i] = Cv2.Mean(difference).Val0;
                }
                (previous, current) = (current, previous);
            }
        }
        finally
        {
            previous.Dispose();
            current.Dispose();
        }
        return scores;
    }

    private static List<DetectedEvent> Events(double[] scores, AnomalyInjector.GroundTruth truth, EventRules rules, double scale)
    {
        var detector = new HysteresisDetector("eval", DetectedEvent.AnomalyKind, rules.AnomalyEnter * scale, rules.AnomalyExit * scale, rules.MinDurationMs, rules.CooldownMs);
        var events = new List<DetectedEvent>();
        for (var i = 0; i < scores.Length; i++)
        {
            if (detector.Observe(i * 1000.0 / truth.Fps, i, "anomaly", double.IsNaN(scores[i]) ? null : scores[i]) is { } e)
            {
                events.Add(e);
            }
        }
        if (detector.Flush() is { } last)
        {
            events.Add(last);
        }
        return events;
    }

    /// <summary>The baseline's scale: a percentile of its scores, never 0 (1 when there are none).</summary>
    private static double BaselineScale(double[] values, double p) =>
        values.Length == 0 ? 1 : Math.Max(Statistics.PercentileOf(values, p), 1e-6);
}
