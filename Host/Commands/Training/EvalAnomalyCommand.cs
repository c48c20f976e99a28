using Edge.Pipeline;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline.Composition;
using Microsoft.Extensions.Logging;
using Edge.Pipeline.Events;
using Edge.Training;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using OpenCvSharp;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge eval anomaly VIDEO...</c>: scores every frame of one or more test videos with injected anomalies (a suite
/// made by <c>edge data anomaly --seeds</c>) with the anomaly model, exactly as the temporal stage does, and with the
/// references measured in the same run: the mean absolute difference to the previous frame, and, given the normal
/// training footage, each frame's distance to its nearest normal frame. Reports frame ROC AUC overall, per kind and
/// per family, cell-level localisation, event precision and recall with the configured event rules, and a score
/// timeline per video.
/// </summary>
public static class EvalAnomalyCommand
{
    /// <param name="GroundTruth">Only with one video; otherwise each video's NAME.gt.json.</param>
    /// <param name="Normal">Normal training footage for the nearest-normal-frame reference (optional).</param>
    public sealed record Arguments(IReadOnlyList<string> Videos, string? GroundTruth, string Model, string? Normal, string? Out);

    /// <summary>One method's numbers over all videos (the per-kind and per-family detail is in <see cref="AnomalyEvaluation.MethodReport"/>).</summary>
    public sealed record MethodResult(string Method, double FrameAuc, double MeanKindAuc, double MinKindAuc, double MeanContextAuc, double? LocalisationAuc,
        int Events, double Precision, double Recall, double NormalInEvents, double? FalseAlarmsPerHour, AnomalyEvaluation.KindResult[] Kinds,
        Dictionary<string, double> FamilyAuc);

    public static async Task<int> RunAsync(EdgeContext context, Arguments args, CancellationToken ct)
    {
        if (args.Out is { } folder && File.Exists(folder))
        {
            throw new Edge.Pipeline.Outputs.OutputException($"cannot write the evaluation to {folder}: it is a file, and the results are a folder");
        }
        var truths = new List<(string Video, AnomalyInjector.GroundTruth Truth)>();
        foreach (var video in args.Videos)
        {
            if (!File.Exists(video))
            {
                throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"video file not found: {video}");
            }
            var gt = args.Videos.Count == 1 && args.GroundTruth is not null ? args.GroundTruth : Path.ChangeExtension(video, ".gt.json");
            if (!File.Exists(gt))
            {
                throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"ground-truth file not found: {gt} (a test video needs NAME.gt.json beside it, or --gt with one video)");
            }
            var truth = ReadTruth(gt);
            // The video's header against the ground truth's frame count, before any frame is scored (the frames decoded
            // are checked again after scoring: a header can be wrong, a damaged file shorter).
            using (var capture = new VideoCapture(video))
            {
                var header = capture.IsOpened() ? (long)capture.Get(VideoCaptureProperties.FrameCount) : 0;
                if (header > 0 && header != truth.Frames)
                {
                    throw new TrainingDataException($"the ground truth {gt} describes {truth.Frames} frames but {video} has {header} (its header)");
                }
            }
            truths.Add((video, truth));
        }
        var anomalous = truths.Sum(t => t.Truth.Anomalies.Sum(a => a.EndFrame - a.StartFrame + 1));
        if (anomalous == 0 || anomalous >= truths.Sum(t => t.Truth.Frames))
        {
            throw new TrainingDataException(anomalous == 0
                ? "the ground truth lists no anomalous frame: there is nothing to find, and no ROC to measure"
                : "the ground truth marks every frame anomalous: there is no normal frame to rank against");
        }
        await using var models = context.OpenModels();
        var model = ModelCatalog.OpenWindowModel(args.Model, models.FrameModel, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        try
        {
            return await EvaluateAsync(context, args, truths, models, model, ct).ConfigureAwait(false);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }

    /// <summary>
    /// A ground-truth file, checked before any frame is scored: valid JSON of <c>edge data anomaly</c>'s layout, and every
    /// injection's frames inside the video it describes (an injection past the end or ending before it starts would
    /// silently drop out of the counts).
    /// </summary>
    private static AnomalyInjector.GroundTruth ReadTruth(string path)
    {
        AnomalyInjector.GroundTruth truth;
        try
        {
            truth = AnomalyInjector.GroundTruth.Load(path);
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or InvalidDataException)
        {
            throw new TrainingDataException($"ground truth {path} is not valid: {Edge.Host.Cli.EdgeCli.FirstLine(ex.Message)}");
        }
        if (truth.Anomalies is null || truth.Frames <= 0)
        {
            throw new TrainingDataException($"ground truth {path} is not valid: it needs \"frames\" (above 0) and an \"anomalies\" list");
        }
        for (var i = 0; i < truth.Anomalies.Length; i++)
        {
            var a = truth.Anomalies[i];
            if (a is null || a.StartFrame < 0 || a.EndFrame < a.StartFrame || a.EndFrame >= truth.Frames)
            {
                throw new TrainingDataException(a is null
                    ? $"ground truth {path} is not valid: anomaly {i + 1} is empty"
                    : $"ground truth {path} is not valid: anomaly {i + 1} ({a.Kind}) spans frames {a.StartFrame}–{a.EndFrame}, not within 0–{truth.Frames - 1} with its start before its end");
            }
        }
        return truth;
    }

    private static async Task<int> EvaluateAsync(EdgeContext context, Arguments args, List<(string Video, AnomalyInjector.GroundTruth Truth)> truths,
        ModelCatalog models, IWindowModel model, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Eval");
        if (model.Manifest.Anomaly is null)
        {
            throw new ModelException(ModelError.Invalid, $"{args.Model} is not an anomaly model");
        }
        Func<AnomalyEvaluation.Video, AnomalyEvaluation.VideoScores>? nearest = null;
        if (args.Normal is not null)
        {
            if (!File.Exists(args.Normal))
            {
                throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"video file not found: {args.Normal}");
            }
            var (normal, _) = context.EmbedVideo(models, args.Normal, new CaptureOptions(), ct);
            nearest = AnomalyEvaluation.NearestNormalFrame(normal, models.FrameModel.EmbeddingSize);
        }
        var output = args.Out ?? Path.Combine("out", "eval", Path.GetFileNameWithoutExtension(args.Videos[0]));

        var videos = new List<AnomalyEvaluation.Video>();
        var scores = new Dictionary<string, List<AnomalyEvaluation.VideoScores>> { ["learned"] = [], ["frame difference"] = [] };
        if (nearest is not null)
        {
            scores["nearest normal frame"] = [];
        }
        (int, int, int, int)? cellGrid = null;
        foreach (var (video, truth) in truths)
        {
            logger.LogInformation("Scoring {Video} ({Frames} frames, {Anomalies} injected anomalies)", video, truth.Frames, truth.Anomalies.Length);
            var (embeddings, grids, frames) = await FeaturesAsync(context, models, video, model.ReadsGrid, model.ReadsFlow, ct).ConfigureAwait(false);
            if (frames != truth.Frames)
            {
                throw new TrainingDataException($"the ground truth describes {truth.Frames} frames but {video} has {frames}");
            }
            var full = new AnomalyEvaluation.Video(Path.GetFileName(video), embeddings, grids, frames, truth);
            scores["learned"].Add(AnomalyEvaluation.ScoreWithModel(model, full));
            // The grids are large (50 k values a frame): only the model reads them.
            var kept = full with { Grids = null };
            videos.Add(kept);
            var difference = FrameDifferences(video, frames);
            var scale = BaselineScale([.. difference.Where(v => !double.IsNaN(v))], 0.9);
            scores["frame difference"].Add(new AnomalyEvaluation.VideoScores([.. difference.Select(v => v / scale)], null));
            if (nearest is not null)
            {
                scores["nearest normal frame"].Add(nearest(kept));
            }
            if (model.CellGrid is { } g && cellGrid is null)
            {
                using var capture = new VideoCapture(video);
                cellGrid = (g.Height, g.Width, capture.FrameWidth, capture.FrameHeight);
            }
            }

        var rules = context.Get<EventRules>();
        AnomalyEvaluation.EventSegmenter segmenter = (s, fps) => [.. Events(s, fps, rules).Select(d => (d.StartFrame, d.EndFrame))];
        var reports = scores.Select(m => AnomalyEvaluation.Evaluate(m.Key, videos, m.Value, segmenter, grid: cellGrid)).ToList();
        var results = reports.Select(r => new MethodResult(r.Method, r.FrameAuc, r.MeanKindAuc, r.MinKindAuc, r.MeanContextAuc, r.LocalisationAuc, r.Events,
            r.EventPrecision, r.EventRecall, r.NormalInEvents, r.FalseAlarmsPerHour, r.Kinds, r.FamilyAuc)).ToList();

        Directory.CreateDirectory(output); // only now that every video scored: a failure before leaves no empty folder
        for (var v = 0; v < videos.Count; v++)
        {
            var name = videos.Count == 1 ? "timeline.png" : $"{Path.GetFileNameWithoutExtension(videos[v].Name)}.timeline.png";
            Plots.Timeline(scores["learned"][v].Scores, scores["frame difference"][v].Scores,
                videos[v].Truth.Anomalies.Select(a => (a.StartFrame, a.EndFrame, a.Kind)).ToList(),
                Path.Combine(output, name), $"{videos[v].Name}: scores (1.0 = threshold) and injected anomalies");
        }

        var c = CultureInfo.InvariantCulture;
        string F(double? x) => x is { } v && !double.IsNaN(v) ? v.ToString("0.000", c) : "-";
        var table = new Table().Border(TableBorder.Rounded).AddColumns("method", "frame ROC AUC", "mean kind AUC", "min kind AUC", "in context", "localisation AUC",
            "events", "event precision", "event recall", "normal time in events", "false alarms / h");
        foreach (var r in results)
        {
            table.AddRow(r.Method, F(r.FrameAuc), F(r.MeanKindAuc), F(r.MinKindAuc), F(r.MeanContextAuc), F(r.LocalisationAuc), r.Events.ToString(c), r.Precision.ToString("0.00", c), r.Recall.ToString("0.00", c),
                r.NormalInEvents.ToString("P0", c), r.FalseAlarmsPerHour is { } perHour ? perHour.ToString("0", c) : "-");
        }
        AnsiConsole.Write(table);
        var kinds = results[0].Kinds.Select(k => k.Kind).ToArray();
        if (kinds.Length > 1)
        {
            var byKind = new Table().Border(TableBorder.Rounded).AddColumn("kind").AddColumn("family").AddColumn("injections");
            results.ForEach(r => byKind.AddColumn(r.Method));
            foreach (var kind in kinds)
            {
                var first = results[0].Kinds.First(k => k.Kind == kind);
                byKind.AddRow([kind, first.Family, first.Injections.ToString(c),
                    .. results.Select(r => r.Kinds.FirstOrDefault(k => k.Kind == kind) is { } k ? $"{F(k.Auc)} ({F(k.ContextAuc)})" : "-")]);
            }
            foreach (var family in results[0].FamilyAuc.Keys.Order())
            {
                byKind.AddRow([$"[bold]{family} (mean)[/]", family, "", .. results.Select(r => F(r.FamilyAuc.GetValueOrDefault(family, double.NaN)))]);
            }
            byKind.Caption($"a kind's frames against every normal frame (in brackets: each injection's against the normal frames within {AnomalyEvaluation.ContextSeconds:0} s of it)");
            AnsiConsole.Write(byKind);
        }
        var json = new { videos = args.Videos, model = args.Model, frames = videos.Sum(v => v.Frames), results };
        File.WriteAllText(Path.Combine(output, "eval-anomaly.json"), JsonSerializer.Serialize(json, new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.WriteLine($"timelines and eval-anomaly.json in {Path.GetFullPath(output)}");
        return ExitCodes.Ok;
    }

    /// <summary>
    /// The video's embeddings and, when the model reads them, its grids (each followed by the frame's cell flow when the
    /// model reads that too), through the serving stream assembly.
    /// </summary>
    private static async Task<(float[] Embeddings, float[]? Grids, int Frames)> FeaturesAsync(EdgeContext context, ModelCatalog models, string video,
        bool grids, bool flow, CancellationToken ct)
    {
        if (!grids)
        {
            var (values, rows) = context.EmbedVideo(models, video, new CaptureOptions(), ct);
            return (values, null, rows);
        }
        var folder = Path.Combine(Path.GetTempPath(), $"edge-eval-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var recording = await AnomalyLearning.RecordAsync([video], folder, new CaptureOptions(), models, context.LoggerFactory, ct).ConfigureAwait(false);
            var frames = (int)recording.Frames;
            var e = recording.EmbeddingSize;
            var f = flow ? recording.FlowSize : 0;
            var g = recording.Grid.Size + f;
            var embeddings = new float[frames * e];
            var gridValues = new float[(long)frames * g];
            var t = 0;
            foreach (var (embedding, grid, flowValues) in recording.Read(recording.Segments[0]))
            {
                embedding.CopyTo(embeddings.AsSpan(t * e, e));
                grid.CopyTo(gridValues.AsSpan(t * g, grid.Length));
                flowValues.AsSpan(0, f).CopyTo(gridValues.AsSpan(t * g + grid.Length, f));
                t++;
            }
            return (embeddings, gridValues, frames);
        }
        finally
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
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

    private static List<DetectedEvent> Events(double[] scores, double fps, EventRules rules)
    {
        var detector = new HysteresisDetector("eval", DetectedEvent.AnomalyKind, rules.AnomalyEnter, rules.AnomalyExit, rules.MinDurationMs, rules.CooldownMs);
        var events = new List<DetectedEvent>();
        for (var i = 0; i < scores.Length; i++)
        {
            if (detector.Observe(i * 1000.0 / fps, i, "anomaly", double.IsNaN(scores[i]) ? null : scores[i]) is { } e)
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
