using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Outputs;
using Edge.Pipeline.Tracking;
using Edge.Training;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge data scenes</c>, <c>edge train detector</c> and <c>edge eval tracking</c>: multi-person scenes with ground
/// truth, Edge's person detector trained on them, and tracking measured on the held-out scenes with each box source.
/// </summary>
public static class TrackingCommands
{
    public const string DefaultScenes = "data/scenes";

    public static int DataScenes(EdgeContext context, string video, string output, MultiPersonScenes.Options options, CancellationToken ct)
    {
        if (!File.Exists(video))
        {
            throw new CaptureException(CaptureError.NotFound, $"video file not found: {video}");
        }
        var logger = context.CreateLogger("Edge.Data");
        var clock = Stopwatch.StartNew();
        var lastReport = -1;
        var progress = new Immediate<(int Done, int Total)>(p =>
        {
            if (Interlocked.Exchange(ref lastReport, p.Done) != p.Done)
            {
                logger.LogInformation("{Done}/{Total} scenes written ({Seconds:0} s)", p.Done, p.Total, clock.Elapsed.TotalSeconds);
            }
        });
        var metadata = MultiPersonScenes.Create(video, output, options, progress, ct);
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{metadata.TrainScenes.Length} training and {metadata.TestScenes.Length} test scenes of {options.Frames} frames at {options.Width}x{options.Height}, seed {metadata.Seed}, in {clock.Elapsed.TotalSeconds:0.0} s: {Path.GetFullPath(output)} (scene.avi, gt/gt.txt, scene.json per scene)"));
        return ExitCodes.Ok;
    }

    public sealed record DetectorArguments(string Scenes, string Out, int FrameStep, TrainOptions Options);

    public static int TrainDetector(EdgeContext context, DetectorArguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Train");
        ModelOutput.EnsureWritable(args.Out);
        var folders = TrackingHarness.SceneFolders(args.Scenes, "train");
        var data = DetectorTrainer.Load(folders, args.FrameStep, ct);
        var people = data.Boxes.Sum(b => b.Count(x => x[4] >= DetectorTrainer.MinVisibility));
        logger.LogInformation("Training the person detector on {Frames} frames of {Scenes} training scenes ({People} people boxes)", data.Count, folders.Count, people);
        TorchRuntime.Initialize(args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads, args.Options.Seed);
        var progress = new Immediate<EpochReport>(e => logger.LogInformation("epoch {Epoch}: train loss {Loss:0.0000}, validation loss {Validation:0.0000}{Best} ({Seconds:0} s)",
            e.Epoch, e.TrainLoss, e.ValidationLoss, e.Improved ? " (best)" : "", e.Elapsed.TotalSeconds));
        var result = DetectorTrainer.Train(data, args.Options with { CheckpointPath = Path.ChangeExtension(args.Out, ".ckpt") }, null, progress, ct);
        using var network = result.Network;
        var temp = args.Out + ".tmp";
        DetectorTrainer.Export(network, temp, $"person detector trained by Edge on {data.Count} frames of {args.Scenes}");

        // The export must compute what TorchSharp computes, on real frames.
        var frameBytes = DetectorTrainer.InputWidth * DetectorTrainer.InputHeight * 3;
        var count = Math.Min(4, data.Count);
        var reference = DetectorTrainer.Reference(network, data.Pixels[..(count * frameBytes)], count);
        double difference;
        using (var session = new Microsoft.ML.OnnxRuntime.InferenceSession(temp))
        {
            var input = new float[count * frameBytes];
            var plane = DetectorTrainer.InputWidth * DetectorTrainer.InputHeight;
            for (var i = 0; i < count; i++)
            {
                for (var p = 0; p < plane; p++)
                {
                    for (var c = 0; c < 3; c++)
                    {
                        input[i * frameBytes + c * plane + p] = data.Pixels[i * frameBytes + p * 3 + c] / 255f;
                    }
                }
            }
            using var value = Microsoft.ML.OnnxRuntime.OrtValue.CreateTensorValueFromMemory(input, [count, 3, DetectorTrainer.InputHeight, DetectorTrainer.InputWidth]);
            using var outputs = session.Run(new Microsoft.ML.OnnxRuntime.RunOptions(), ["images"], [value], ["output0"]);
            var served = outputs[0].GetTensorDataAsSpan<float>().ToArray();
            difference = served.Zip(reference).Max(z => Math.Abs(z.First - z.Second) / Math.Max(1, Math.Abs(z.Second)));
        }
        if (difference > 1e-3)
        {
            File.Delete(temp);
            throw new ModelException(ModelError.Invalid, $"the exported detector differs from the trained network by {difference:E1} (relative); nothing written");
        }
        File.Move(temp, args.Out, overwrite: true);
        File.Delete(Path.ChangeExtension(args.Out, ".ckpt"));
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"detector {args.Out}: {result.Epochs.Count} epochs in {result.Elapsed.TotalMinutes:0.0} min, best validation loss {result.BestValidationLoss:0.0000}, export parity {difference:E1}; input {DetectorTrainer.InputWidth}x{DetectorTrainer.InputHeight}, YOLOv8 layout, class person. Measure it: edge eval tracking {args.Scenes} --detector {args.Out}"));
        return ExitCodes.Ok;
    }

    /// <param name="ActivityModel">A per-track activity model to judge through each box source and the tracker, or null.</param>
    public sealed record EvalArguments(string Scenes, string Split, string? Detector, float MinScore, string? Out, string? ActivityModel = null);

    /// <summary>One box source's numbers on the scenes.</summary>
    public sealed record SourceResult(string Source, MotMetrics Tracking, DetectionReport Detection, double LineCountError, double ZoneEntryError,
        long LinesCounted, long LinesTrue, double MsPerFrame)
    {
        /// <summary>With <c>--activity-model</c>: per-track activity through this box source and the tracker.</summary>
        public ActivityResult? Activity { get; init; }
    }

    public sealed record ActivityResult(double Accuracy, double MeanRecall, long Judged, long Unlabelled, string[] Labels, int[][] Confusion)
    {
        /// <summary>Share right among the track-frames that had a label (a track's first window has none yet).</summary>
        public double LabelledAccuracy => Judged == Unlabelled ? 0 : Enumerable.Range(0, Labels.Length).Sum(i => Confusion[i][i]) / (double)(Judged - Unlabelled);
    }

    public static int EvalTracking(EdgeContext context, EvalArguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Eval");
        var folders = TrackingHarness.SceneFolders(args.Scenes, args.Split);
        var tracking = context.Get<TrackingOptions>();
        var objects = context.Get<ObjectOptions>();
        var results = new List<SourceResult>();
        var progress = new Immediate<string>(line => logger.LogInformation("{Line}", line));
        // With a per-track activity model, every source's tracks are labelled from the frame model's grid, as served.
        var models = context.Get<ModelOptions>();
        using var embedder = args.ActivityModel is null ? null
            : FrameEmbedder.Open(models.Resolve(models.FrameModel), models, 1, context.CreateLogger("Edge.Models"));
        using var activityModel = args.ActivityModel is null ? null
            : SequenceModel.Open(models.Resolve(args.ActivityModel), embedder!.EmbeddingSize, models, context.CreateLogger("Edge.Models"), embedder.Grid);
        if (activityModel is { ReadsTracks: false })
        {
            throw new ModelException(ModelError.Invalid, $"{args.ActivityModel} reads frame embeddings, not track steps: --activity-model here is a per-track model (edge train sequence --input track)");
        }
        SourceResult Measure(string name, Func<MultiPersonScenes.Scene, DetectionEvaluation, TrackActivityTally.Scene?, ISceneTracker> start)
        {
            logger.LogInformation("Tracking {Scenes} {Split} scenes with {Source}", folders.Count, args.Split, name);
            var detection = new DetectionEvaluation();
            var activity = activityModel is null ? null : new TrackActivityTally(embedder!, activityModel);
            var report = TrackingHarness.Run(folders, scene => start(scene, detection, activity?.Start(scene)), args.Out is null ? null : Path.Combine(args.Out, Slug(name)), progress, ct);
            var lines = report.AllLines.ToList();
            return new SourceResult(name, report.Combined, detection.Report(), report.LineCountError, report.ZoneEntryError,
                lines.Sum(l => l.Total), lines.Sum(l => l.TruthTotal), report.Scenes.Average(s => s.MsPerFrame))
            {
                Activity = activity is null ? null : new ActivityResult(activity.Accuracy, activity.MeanRecall, activity.Judged, activity.Unlabelled, activity.Labels,
                    [.. Enumerable.Range(0, activity.Labels.Length).Select(t => Enumerable.Range(0, activity.Labels.Length).Select(p => activity.Confusion[t, p]).ToArray())]),
            };
        }
        if (args.Detector is { } path)
        {
            using var detector = BoxDetector.Open(path, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
            results.Add(Measure($"detector {Path.GetFileName(path)}", (scene, d, a) =>
                new SceneTrackingSystem(scene, SceneTrackingSystem.DetectorBoxes(detector, args.MinScore, (float)objects.DetectorNmsIou), tracking, d, activity: a)));
        }
        results.Add(Measure("motion regions", (scene, d, a) =>
        {
            var motion = new MotionDetector(objects.MinAreaPx, objects.MergeGapPx);
            return new SceneTrackingSystem(scene, SceneTrackingSystem.MotionBoxes(motion), tracking, d, motion, a);
        }));
        results.Add(Measure("jittered ground truth", (scene, d, a) => new SceneTrackingSystem(scene, new JitteredTruth(scene.Seed).Detect, tracking, d, activity: a)));

        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("box source", "MOTA", "IDF1", "MOTP", "ID sw.", "frag.", "MT/PT/ML",
            "AP@0.5", "precision", "recall", "lines", "zone entries", "ms/frame");
        foreach (var r in results)
        {
            var m = r.Tracking;
            table.AddRow(Markup.Escape(r.Source), m.Mota.ToString("0.000", c), m.Idf1.ToString("0.000", c), m.Motp.ToString("0.000", c),
                m.IdSwitches.ToString(c), m.Fragmentations.ToString(c), $"{m.MostlyTracked}/{m.PartiallyTracked}/{m.MostlyLost}",
                r.Detection.AveragePrecision.ToString("0.000", c), r.Detection.Precision.ToString("0.000", c), r.Detection.Recall.ToString("0.000", c),
                $"{r.LinesCounted}/{r.LinesTrue} ({r.LineCountError:+0.0%;-0.0%;0.0%})", r.ZoneEntryError.ToString("+0.0%;-0.0%;0.0%", c), r.MsPerFrame.ToString("0.0", c));
        }
        AnsiConsole.Write(table);
        if (results.Any(r => r.Activity is not null))
        {
            var activityTable = new Table().Border(TableBorder.Rounded).Title("activity per track, through each box source and the tracker")
                .AddColumns("box source", "accuracy", "of those labelled", "mean class recall", "track-frames judged", "not labelled yet");
            foreach (var r in results.Where(r => r.Activity is not null))
            {
                var a = r.Activity!;
                activityTable.AddRow(Markup.Escape(r.Source), a.Accuracy.ToString("0.0%", c), a.LabelledAccuracy.ToString("0.0%", c), a.MeanRecall.ToString("0.0%", c), a.Judged.ToString(c),
                    a.Judged == 0 ? "–" : ((double)a.Unlabelled / a.Judged).ToString("0.0%", c));
            }
            AnsiConsole.Write(activityTable);
        }
        var people = results[0].Detection.People;
        AnsiConsole.WriteLine(string.Create(c,
            $"{folders.Count} {args.Split} scenes of {args.Scenes}: {results[0].Tracking.Objects} people, {people} person boxes at least {DetectionEvaluation.MinVisibility:P0} visible; tracking as TrackEval computes it at IoU 0.5, detection AP at IoU 0.5"));
        if (args.Out is { } folder)
        {
            Directory.CreateDirectory(folder);
            var json = Path.Combine(folder, "eval-tracking.json");
            File.WriteAllText(json + ".tmp", JsonSerializer.Serialize(new { scenes = args.Scenes, split = args.Split, sources = results },
                new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
            File.Move(json + ".tmp", json, overwrite: true);
            AnsiConsole.WriteLine($"numbers and each source's MOTChallenge results: {Path.GetFullPath(folder)}");
        }
        return ExitCodes.Ok;
    }

    private static string Slug(string name) => new([.. name.Select(ch => char.IsLetterOrDigit(ch) ? ch : '-')]);
}
