using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Models;
using Edge.Training;
using Edge.Training.Evaluation;
using Microsoft.Extensions.Logging;
using Spectre.Console;
using static TorchSharp.torch;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge eval activity</c>: window accuracy and confusion matrix of an activity model (frame CNN + GRU/LSTM) on test
/// clips, beside a baseline measured in the same run: a single-frame classifier (<see cref="HeadTrainer"/>'s head)
/// trained on the per-frame embeddings of the training clips with their clips' labels, judging each test window by
/// its newest frame. Both see the same embeddings from the same frame model, so the difference is what the motion
/// across the window adds.
/// </summary>
public static class EvalActivityCommand
{
    public sealed record Arguments(string Data, string Train, string Model, string? Out, TrainOptions Baseline);

    /// <param name="MeanRecall">The mean over classes of the share of each class's windows labelled right (balanced accuracy): what a model that says the commonest class to everything does not get.</param>
    public sealed record MethodResult(string Method, double Accuracy, int Windows, int[][] Confusion, double MeanRecall);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Eval");
        var clock = Stopwatch.StartNew();
        if (!File.Exists(args.Model))
        {
            throw new ModelException(ModelError.NotFound, $"activity model not found: {args.Model}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(args.Model));
        if (manifest.Kind != ModelManifest.ActivityKind)
        {
            throw new ModelException(ModelError.Invalid, $"{args.Model} is a '{manifest.Kind}' model, not an activity model ({ModelManifest.ActivityKind})");
        }
        var labels = manifest.Labels;
        var testInputs = Inputs(args.Data, labels);
        var trainInputs = Inputs(args.Train, labels);
        var frameManifest = ModelManifest.Load(ModelManifest.PathFor(context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel)));
        var model = SequenceModel.Open(args.Model, frameManifest.EmbeddingSize, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"), frameManifest.Grid);
        using var ownedModel = model;
        // A per-track model reads track steps (edge data tracks' .npy windows); a whole-frame one, frame embeddings.
        var embeddingSize = model.FeatureSize;
        using var output = new OutputDirectory(args.Out ?? Path.Combine("out", "eval", manifest.Name + "-activity"));

        logger.LogInformation("Embedding {Clips} test clips from {Data}", testInputs.Count, args.Data);
        var test = EvalCommand.Sequences(context, testInputs, ct, logger);
        logger.LogInformation("Embedding {Clips} training clips from {Train} for the single-frame baseline", trainInputs.Count, args.Train);
        var train = EvalCommand.Sequences(context, trainInputs, ct, logger);
        var mismatch = test.Concat(train).FirstOrDefault(s => s.Values.Length != s.Rows * embeddingSize);
        if (mismatch is not null)
        {
            throw new TrainingDataException($"{mismatch.Name} holds {mismatch.Values.Length / Math.Max(1, mismatch.Rows)}-d features, the model reads {embeddingSize}");
        }

        // The same windows for both methods: the model reads all T frames, the baseline only the newest.
        var frames = model.InputFrames;
        var stride = manifest.WindowStride ?? 1;
        // A per-track model's step is a change between two frames: its single-frame baseline reads what one frame
        // shows of the person instead (edge data tracks' still/ views of the same windows).
        var tracks = model.ReadsTracks;
        var baselineTrain = tracks ? Stills(train) : train;
        var baselineSize = tracks ? baselineTrain[0].Values.Length / baselineTrain[0].Rows : embeddingSize;
        var truth = new List<int>();
        var learned = new List<int>();
        var newest = new List<float>();
        foreach (var sequence in test)
        {
            var windows = EvalCommand.Windows(sequence, frames, stride);
            if (windows.Count == 0)
            {
                continue;
            }
            learned.AddRange(EvalCommand.ArgMaxRows(model.Run([.. windows.SelectMany(w => w)], windows.Count), labels.Length));
            truth.AddRange(Enumerable.Repeat(sequence.Label, windows.Count));
            var views = tracks ? EvalCommand.Windows(Stills([sequence])[0], frames, stride) : windows;
            foreach (var window in views)
            {
                newest.AddRange(window.AsSpan((frames - 1) * baselineSize, baselineSize).ToArray());
            }
        }
        if (truth.Count == 0)
        {
            throw new TrainingDataException($"no test clip in {args.Data} has the {frames} frames of one window");
        }
        // libtorch trains the baseline only once ONNX Runtime's session (and its thread pool) is gone.
        ownedModel.Dispose();
        var baseline = Baseline(baselineTrain, newest.ToArray(), baselineSize, labels.Length, args.Baseline, logger, ct);

        var results = new List<MethodResult>();
        var c = CultureInfo.InvariantCulture;
        var baselineName = tracks ? "single frame (the person's look in the newest)" : "single frame (newest)";
        foreach (var (method, file, predicted) in new[] { ($"{manifest.Name} ({frames} frames)", "confusion-model.png", learned), (baselineName, "confusion-baseline.png", baseline) })
        {
            var confusion = Metrics.ConfusionMatrix(truth, predicted, labels.Length);
            var accuracy = Metrics.Accuracy(confusion);
            Plots.ConfusionMatrix(confusion, labels, output.StagingPath(file), string.Create(c, $"{method}: accuracy {accuracy * 100:0.0} %"));
            var rows = Enumerable.Range(0, labels.Length).Select(t => Enumerable.Range(0, labels.Length).Select(p => confusion[t, p]).ToArray()).ToArray();
            results.Add(new MethodResult(method, accuracy, truth.Count, rows, Metrics.MeanRecall(confusion)));
        }

        foreach (var result in results)
        {
            var matrix = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(result.Method)).AddColumn("true \\ predicted");
            foreach (var label in labels)
            {
                matrix.AddColumn(Markup.Escape(label));
            }
            for (var t = 0; t < labels.Length; t++)
            {
                matrix.AddRow([Markup.Escape(labels[t]), .. result.Confusion[t].Select(n => n.ToString(c))]);
            }
            AnsiConsole.Write(matrix);
        }
        var difference = (results[0].Accuracy - results[1].Accuracy) * 100;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("method", "accuracy", "mean class recall", "test windows");
        foreach (var result in results)
        {
            table.AddRow(Markup.Escape(result.Method), (result.Accuracy * 100).ToString("0.00 '%'", c), (result.MeanRecall * 100).ToString("0.00 '%'", c), result.Windows.ToString(c));
        }
        table.AddRow("difference", difference.ToString("+0.00 'points';-0.00 'points'", c),
            ((results[0].MeanRecall - results[1].MeanRecall) * 100).ToString("+0.00 'points';-0.00 'points'", c), "");
        AnsiConsole.Write(table);
        File.WriteAllText(output.StagingPath("eval.json"), JsonSerializer.Serialize(new
        {
            model = Path.GetFullPath(args.Model),
            data = Path.GetFullPath(args.Data),
            train = Path.GetFullPath(args.Train),
            labels,
            windowFrames = frames,
            windowStride = stride,
            testClips = test.Count,
            trainClips = train.Count,
            results,
            differencePoints = difference,
            seconds = clock.Elapsed.TotalSeconds,
        }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
        output.Commit();
        AnsiConsole.WriteLine(string.Create(c, $"confusion-model.png, confusion-baseline.png and eval.json in {output.Path} ({clock.Elapsed.TotalSeconds:0} s)"));
        return ExitCodes.Ok;
    }

    /// <summary>The single-frame views of per-track windows (<see cref="DataTracksCommand.StillFor"/>); a missing one is an error.</summary>
    private static List<SequenceTrainer.Sequence> Stills(List<SequenceTrainer.Sequence> windows) =>
        [.. windows.Select(w =>
        {
            var path = DataTracksCommand.StillFor(w.Name);
            if (!File.Exists(path))
            {
                throw new TrainingDataException($"{path} not found: the single-frame baseline of a per-track model reads the still/ views that edge data tracks writes beside its windows");
            }
            var (values, rows, _) = NpyFile.Read(path);
            return new SequenceTrainer.Sequence(path, values, rows, w.Label);
        })];

    /// <summary>Class folders of <paramref name="data"/>, numbered as the model's labels; a class the model lacks is an error.</summary>
    private static List<(string Path, int Label)> Inputs(string data, string[] labels)
    {
        var (inputs, folders) = TrainSequenceCommand.LabeledInputs(data);
        var unknown = folders.Where(f => !labels.Contains(f)).ToList();
        if (unknown.Count > 0)
        {
            throw new TrainingDataException($"{data}: class folders {string.Join(", ", unknown)} are not among the model's labels ({string.Join(", ", labels)})");
        }
        return [.. inputs.Select(i => (i.Path, Array.IndexOf(labels, folders[i.Label])))];
    }

    /// <summary>Trains the single-frame head on every training frame (labelled with its clip's class) and classifies the given rows.</summary>
    private static List<int> Baseline(List<SequenceTrainer.Sequence> train, float[] rows, int features, int classes, TrainOptions options, ILogger logger, CancellationToken ct)
    {
        TorchRuntime.Initialize(options.Threads == 0 ? Environment.ProcessorCount : options.Threads, options.Seed);
        var embeddings = train.SelectMany(s => s.Values).ToArray();
        var frameLabels = train.SelectMany(s => Enumerable.Repeat((long)s.Label, s.Rows)).ToArray();
        logger.LogInformation("Training the single-frame baseline on {Frames} frames", frameLabels.Length);
        var progress = new Immediate<EpochReport>(e => logger.LogInformation("baseline epoch {Epoch}: train loss {Loss:0.0000}, held-out frame accuracy {Accuracy:0.0} %{Best}",
            e.Epoch, e.TrainLoss, (e.ValidationAccuracy ?? 0) * 100, e.Improved ? " (best)" : ""));
        var result = new HeadTrainer(options).Train(embeddings, frameLabels, features, classes, progress, ct);
        using var network = result.Network;
        network.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scores = network.call(tensor(rows, [rows.Length / features, features]));
        return [.. scores.argmax(1).data<long>().ToArray().Select(v => (int)v)];
    }
}
