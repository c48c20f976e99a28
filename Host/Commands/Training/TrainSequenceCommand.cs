using Edge.Pipeline;
using Edge.Pipeline.Composition;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge train sequence</c>: trains a GRU/LSTM on windows of frame embeddings. Inputs are videos (embedded here by
/// the same frame model and code the pipeline uses) or embeddings.npy files written by <c>edge process</c>.
/// </summary>
public static class TrainSequenceCommand
{
    private static readonly HashSet<string> s_videos = new(StringComparer.OrdinalIgnoreCase) { ".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".ts" };

    /// <param name="Tracks">Activity over one person's steps (<see cref="TrackFeatures"/>, from <c>edge data tracks</c>): a per-track model.</param>
    public sealed record Arguments(string Task, string Data, string Out, SequenceTrainer.Settings Settings, TrainOptions Options, bool Tracks = false);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Train");
        var anomaly = args.Task == "anomaly";
        if (anomaly && args.Settings.Motion)
        {
            throw new UsageException("--input changes is for activity models; an anomaly model predicts the next frame's embedding");
        }
        if (anomaly && args.Tracks)
        {
            throw new UsageException("--input track is for activity models (per-track activity from edge data tracks)");
        }
        var (sources, labels) = anomaly ? (NormalInputs(args.Data), Array.Empty<string>()) : LabeledInputs(args.Data);
        ModelOutput.EnsureWritable(args.Out);
        var frameModel = context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel);
        var sequences = new List<SequenceTrainer.Sequence>();
        ModelCatalog? models = null;
        try
        {
            foreach (var (path, label) in sources)
            {
                if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                {
                    var (stored, storedRows, _) = NpyFile.Read(path);
                    sequences.Add(new SequenceTrainer.Sequence(path, stored, storedRows, label));
                    continue;
                }
                models ??= context.OpenModels();
                var (values, rows) = context.EmbedVideo(models, path, context.Get<CaptureOptions>(), ct);
                sequences.Add(new SequenceTrainer.Sequence(path, values, rows, label));
                logger.LogInformation("Embedded {Path}: {Frames} frames", path, sequences[^1].Rows);
            }
        }
        finally
        {
            models?.Dispose();
        }
        var frameManifest = ModelManifest.Load(ModelManifest.PathFor(frameModel));
        var expectedFeatures = frameManifest.EmbeddingSize;
        if (args.Tracks)
        {
            expectedFeatures = frameManifest.Grid is { } grid ? TrackFeatures.Size(grid)
                : throw new ModelException(ModelError.Invalid, "track steps pool the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
            if (sequences.FirstOrDefault(s => !s.Name.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) is { } video)
            {
                throw new TrainingDataException($"{video.Name}: --input track learns from the .npy windows of edge data tracks, not from videos");
            }
        }
        var mismatch = sequences.FirstOrDefault(s => s.Values.Length != s.Rows * expectedFeatures);
        if (mismatch is not null)
        {
            throw new TrainingDataException(args.Tracks
                ? $"{mismatch.Name} holds {mismatch.Values.Length / Math.Max(1, mismatch.Rows)}-value steps, the frame model's grid makes {expectedFeatures}-value track steps"
                : $"{mismatch.Name} holds {mismatch.Values.Length / Math.Max(1, mismatch.Rows)}-d features, the frame model's manifest says {expectedFeatures}");
        }

        TorchRuntime.Initialize(args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads, args.Options.Seed);
        logger.LogInformation("Training a {Cell} {Task} model on {Sequences} sequences ({Frames} frames), window {Window}, stride {Stride}",
            args.Settings.Cell, args.Task, sequences.Count, sequences.Sum(s => s.Rows), args.Settings.Window, args.Settings.Stride);
        var progress = new Immediate<EpochReport>(e => logger.LogInformation(
            "epoch {Epoch}: train loss {TrainLoss:0.0000}, held-out loss {ValidationLoss:0.0000}{Accuracy}{Best}",
            e.Epoch, e.TrainLoss, e.ValidationLoss,
            e.ValidationAccuracy is { } a ? string.Create(CultureInfo.InvariantCulture, $", accuracy {a * 100:0.0} %") : "",
            e.Improved ? " (best)" : ""));
        var trainer = new SequenceTrainer(args.Options with { CheckpointPath = Path.ChangeExtension(args.Out, ".ckpt") });
        var result = anomaly
            ? trainer.TrainAnomaly(sequences, args.Settings, progress, ct)
            : trainer.TrainActivity(sequences, labels.Length, args.Settings, progress, ct);
        using var network = result.Network;
        var manifest = SequenceExport.Write(result, args.Settings, labels, args.Out, $"{(args.Tracks ? "per-track " : "")}{args.Task} from {args.Data}",
            args.Tracks ? TrackFeatures.Name : null, args.Tracks ? StepMs(args.Data, logger) : null);
        File.WriteAllText(Path.ChangeExtension(args.Out, ".report.json"), JsonSerializer.Serialize(new
        {
            model = Path.GetFullPath(args.Out),
            args.Task,
            cell = args.Settings.Cell.ToString(),
            args.Settings.Window,
            args.Settings.Stride,
            sequences = sequences.Select(s => new { s.Name, s.Rows, s.Label }),
            result.TrainWindows,
            result.HeldOutWindows,
            epochs = result.Epochs,
            validationAccuracy = result.ValidationAccuracy,
            calibration = manifest.Anomaly,
        }, new JsonSerializerOptions { WriteIndented = true }));

        var c = CultureInfo.InvariantCulture;
        AnsiConsole.WriteLine(anomaly
            ? string.Create(c, $"anomaly model {args.Out}: {result.Epochs.Count} epochs, held-out normal score mean {manifest.Anomaly!.Mean:0.000}, std {manifest.Anomaly.Std:0.000}, threshold (p99) {manifest.Anomaly.Threshold:0.000} over {manifest.Anomaly.Windows} windows")
            : string.Create(c, $"activity model {args.Out}: {result.Epochs.Count} epochs, held-out window accuracy {result.ValidationAccuracy * 100 ?? 0:0.0} % ({result.HeldOutWindows} windows, classes: {string.Join(", ", labels)})"));
        return ExitCodes.Ok;
    }

    /// <summary>The time between steps of per-track material: tracks.json's <c>stepMs</c> beside the split folder (edge data tracks writes it), else 10 fps.</summary>
    private static double StepMs(string data, ILogger logger)
    {
        var metadata = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(data).TrimEnd(Path.DirectorySeparatorChar)) ?? "", DataTracksCommand.MetadataFile);
        if (File.Exists(metadata))
        {
            using var document = JsonDocument.Parse(File.ReadAllText(metadata));
            if (document.RootElement.TryGetProperty("stepMs", out var step) && step.TryGetDouble(out var ms) && ms > 0)
            {
                return ms;
            }
        }
        logger.LogWarning("{Metadata} does not say how far apart the steps are: the model is told {StepMs} ms (10 fps material)",
            metadata, Edge.Pipeline.Tracking.TrackActivity.DefaultStepMs);
        return Edge.Pipeline.Tracking.TrackActivity.DefaultStepMs;
    }

    internal static List<(string Path, int Label)> NormalInputs(string data)
    {
        if (File.Exists(data))
        {
            return [(data, -1)];
        }
        if (!Directory.Exists(data))
        {
            throw new TrainingDataException($"normal footage not found: {data}");
        }
        var files = Inputs(data);
        return files.Count > 0 ? [.. files.Select(f => (f, -1))]
            : throw new TrainingDataException($"no videos or .npy embeddings in {data}");
    }

    internal static (List<(string Path, int Label)> Inputs, string[] Labels) LabeledInputs(string data)
    {
        if (!Directory.Exists(data))
        {
            throw new TrainingDataException($"dataset folder not found: {data}");
        }
        var classes = Directory.GetDirectories(data).Order(StringComparer.Ordinal)
            .Select(d => (Name: Path.GetFileName(d), Files: Inputs(d))).Where(c => c.Files.Count > 0).ToArray();
        if (classes.Length < 2)
        {
            throw new TrainingDataException($"{data} needs at least two class folders holding videos or .npy embeddings (found {classes.Length})");
        }
        return ([.. classes.SelectMany((c, label) => c.Files.Select(f => (f, label)))], [.. classes.Select(c => c.Name)]);
    }

    private static List<string> Inputs(string folder) =>
        [.. Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => s_videos.Contains(Path.GetExtension(f)) || f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal)];
}
