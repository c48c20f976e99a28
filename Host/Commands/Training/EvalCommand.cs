using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Edge.Capture;
using System.Globalization;
using System.Text.Json;
using Edge.Models;
using Edge.Training;
using Edge.Training.Evaluation;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge eval</c>: accuracy and confusion matrix for classifiers (image CNN, embedding head, activity model) and ROC
/// AUC for anomaly models, through the same serving code the pipeline uses, with PNG plots: confusion matrix, ROC,
/// and the loss curves from the model's training report.
/// </summary>
public static class EvalCommand
{
    public sealed record Arguments(string Model, string Data, string? Anomalous, string? Out);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Eval");
        if (!File.Exists(args.Model))
        {
            throw new ModelException(ModelError.NotFound, $"model not found: {args.Model}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(args.Model));
        var output = args.Out ?? Path.Combine("out", "eval", manifest.Name);
        Directory.CreateDirectory(output);
        var c = CultureInfo.InvariantCulture;
        var summary = new Dictionary<string, object?> { ["model"] = Path.GetFullPath(args.Model), ["kind"] = manifest.Kind };
        if (manifest.Kind == ModelManifest.AnomalyKind)
        {
            var (fpr, tpr, auc, normal, anomalous) = Anomaly(context, args, manifest, ct);
            Plots.Roc(fpr, tpr, auc, Path.Combine(output, "roc.png"), $"{manifest.Name}: ROC");
            AnsiConsole.WriteLine(string.Create(c, $"ROC AUC {auc:0.0000} over {normal} normal and {anomalous} anomalous windows"));
            summary["rocAuc"] = auc;
            summary["normalWindows"] = normal;
            summary["anomalousWindows"] = anomalous;
        }
        else
        {
            var (truth, predicted, labels) = manifest.Kind switch
            {
                ImageClassifier.Kind => ImageClassifierPredictions(context, args, logger),
                EmbeddingClassifier.Kind => HeadPredictions(context, args, logger, ct),
                ModelManifest.ActivityKind => ActivityPredictions(context, args, manifest, ct),
                _ => throw new ModelException(ModelError.Invalid, $"{args.Model}: no evaluation for '{manifest.Kind}' models"),
            };
            var confusion = Metrics.ConfusionMatrix(truth, predicted, labels.Length);
            var accuracy = Metrics.Accuracy(confusion);
            Plots.ConfusionMatrix(confusion, labels, Path.Combine(output, "confusion.png"), $"{manifest.Name}: accuracy {accuracy * 100:0.0} %");
            var table = new Table().Border(TableBorder.Rounded).AddColumn("true \\ predicted");
            foreach (var label in labels)
            {
                table.AddColumn(Markup.Escape(label));
            }
            for (var t = 0; t < labels.Length; t++)
            {
                table.AddRow([Markup.Escape(labels[t]), .. Enumerable.Range(0, labels.Length).Select(p => confusion[t, p].ToString(c))]);
            }
            AnsiConsole.Write(table);
            AnsiConsole.WriteLine(string.Create(c, $"accuracy {accuracy * 100:0.00} % ({truth.Count} samples)"));
            summary["accuracy"] = accuracy;
            summary["samples"] = truth.Count;
            summary["labels"] = labels;
            summary["confusion"] = Enumerable.Range(0, labels.Length).Select(t => Enumerable.Range(0, labels.Length).Select(p => confusion[t, p]).ToArray()).ToArray();
        }
        var report = Path.ChangeExtension(args.Model, ".report.json");
        if (File.Exists(report) && JsonDocument.Parse(File.ReadAllText(report)).RootElement.TryGetProperty("epochs", out var epochs))
        {
            var list = epochs.Deserialize<List<EpochReport>>(new JsonSerializerOptions { PropertyNameCaseInsensitive = true }) ?? [];
            if (list.Count > 0)
            {
                Plots.LossCurves(list, Path.Combine(output, "loss.png"), $"{manifest.Name}: training");
            }
        }
        File.WriteAllText(Path.Combine(output, "eval.json"), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true }));
        AnsiConsole.WriteLine($"plots and eval.json in {Path.GetFullPath(output)}");
        return ExitCodes.Ok;
    }

    private static (List<int>, List<int>, string[]) ImageClassifierPredictions(EdgeContext context, Arguments args, ILogger logger)
    {
        using var classifier = ImageClassifier.Open(args.Model, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var labels = classifier.Manifest.Labels;
        ImageClassifierTrainer.Data data;
        if (TrainCommand.FindIdx(args.Data) is { } idx)
        {
            data = TrainCommand.ToData(IdxImages.Load(idx.TestImages, idx.TestLabels));
        }
        else
        {
            var loaded = ImageFolderDataset.Load(args.Data, classifier.Manifest.InputWidth, classifier.Manifest.InputHeight, classifier.Channels == 1, logger);
            data = loaded.Data with { Labels = [.. loaded.Data.Labels.Select(l => (long)Array.IndexOf(labels, loaded.Labels[l]))] };
        }
        var imageBytes = data.Height * data.Width * data.Channels;
        var predicted = new List<int>();
        for (var start = 0; start < data.Count; start += 256)
        {
            var count = Math.Min(256, data.Count - start);
            predicted.AddRange(ArgMaxRows(classifier.Classify(data.Pixels[(start * imageBytes)..((start + count) * imageBytes)], count), labels.Length));
        }
        return ([.. data.Labels.Select(l => (int)l)], predicted, labels);
    }

    private static (List<int>, List<int>, string[]) HeadPredictions(EdgeContext context, Arguments args, ILogger logger, CancellationToken ct)
    {
        using var embedder = FrameEmbedder.Open(context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel), context.Get<ModelOptions>(), context.Get<PipelineOptions>().BatchSize, context.CreateLogger("Edge.Models"));
        using var head = EmbeddingClassifier.Open(args.Model, embedder.EmbeddingSize, embedder.Grid, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var labels = head.Labels.ToArray();
        if (head.ReadsGrid)
        {
            // A head over grid regions reads the frames the crops came from, pooled under each crop's box.
            var (set, split) = TrainClassifierCommand.GridSplit(args.Data);
            var (features, truth) = TrainClassifierCommand.GridRegionFeatures(embedder, set, split, labels, logger, ct);
            return ([.. truth.Select(t => (int)t)], ArgMaxRows(head.Classify(features, truth.Length), labels.Length), labels);
        }
        var loaded = ImageFolderDataset.Load(args.Data, embedder.Manifest.InputWidth, embedder.Manifest.InputHeight, false, logger);
        var embeddings = TrainClassifierCommand.Embed(embedder, loaded.Data, ct);
        var predicted = ArgMaxRows(head.Classify(embeddings, loaded.Data.Count), labels.Length);
        return ([.. loaded.Data.Labels.Select(l => Array.IndexOf(labels, loaded.Labels[l]))], predicted, labels);
    }

    private static (List<int>, List<int>, string[]) ActivityPredictions(EdgeContext context, Arguments args, ModelManifest manifest, CancellationToken ct)
    {
        var sequences = Sequences(context, TrainSequenceCommand.LabeledInputs(args.Data) is var (inputs, folderLabels)
            ? inputs.Select(i => (i.Path, Array.IndexOf(manifest.Labels, folderLabels[i.Label]))).ToList() : [], ct);
        // A per-track model reads track steps of the frame model's grid (edge data tracks' windows).
        var frameGrid = ModelManifest.Load(ModelManifest.PathFor(context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel))).Grid;
        using var model = SequenceModel.Open(args.Model, sequences[0].Values.Length / sequences[0].Rows, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"), frameGrid);
        var truth = new List<int>();
        var predicted = new List<int>();
        foreach (var sequence in sequences)
        {
            var windows = Windows(sequence, model.InputFrames, manifest.WindowStride ?? 1);
            if (windows.Count == 0)
            {
                continue;
            }
            predicted.AddRange(ArgMaxRows(model.Run([.. windows.SelectMany(w => w)], windows.Count), manifest.Labels.Length));
            truth.AddRange(Enumerable.Repeat(sequence.Label, windows.Count));
        }
        return (truth, predicted, manifest.Labels);
    }

    private static (double[], double[], double, int, int) Anomaly(EdgeContext context, Arguments args, ModelManifest manifest, CancellationToken ct)
    {
        if (args.Anomalous is null)
        {
            throw new ConfigException("anomaly models are evaluated on normal DATA and --anomalous footage");
        }
        var normal = Sequences(context, [.. TrainSequenceCommand.NormalInputs(args.Data).Select(i => (i.Path, 0))], ct);
        var anomalous = Sequences(context, [.. TrainSequenceCommand.NormalInputs(args.Anomalous).Select(i => (i.Path, 1))], ct);
        using var model = SequenceModel.Open(args.Model, normal[0].Values.Length / normal[0].Rows, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var scores = new List<double>();
        var positive = new List<bool>();
        foreach (var sequence in normal.Concat(anomalous))
        {
            var windows = Windows(sequence, model.InputFrames, manifest.WindowStride ?? 1);
            if (windows.Count > 0)
            {
                scores.AddRange(model.Run([.. windows.SelectMany(w => w)], windows.Count).Select(s => (double)s));
                positive.AddRange(Enumerable.Repeat(sequence.Label == 1, windows.Count));
            }
        }
        var (fpr, tpr, auc) = Metrics.Roc(scores, positive);
        return (fpr, tpr, auc, positive.Count(p => !p), positive.Count(p => p));
    }

    /// <summary>Embeddings of every input (videos through the frame model, .npy files as they are), logging progress to <paramref name="progress"/>.</summary>
    internal static List<SequenceTrainer.Sequence> Sequences(EdgeContext context, List<(string Path, int Label)> inputs, CancellationToken ct, ILogger? progress = null)
    {
        ModelCatalog? models = null;
        try
        {
            var sequences = new List<SequenceTrainer.Sequence>();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            foreach (var (path, label) in inputs)
            {
                if (path.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
                {
                    var (values, rows, _) = NpyFile.Read(path);
                    sequences.Add(new SequenceTrainer.Sequence(path, values, rows, label));
                }
                else
                {
                    models ??= context.OpenModels();
                    var (values, rows) = context.EmbedVideo(models, path, context.Get<CaptureOptions>(), ct);
                    sequences.Add(new SequenceTrainer.Sequence(path, values, rows, label));
                }
                if (progress is not null && (sequences.Count * 10 / inputs.Count != (sequences.Count - 1) * 10 / inputs.Count))
                {
                    progress.LogInformation("Embedded {Done}/{Total} clips, {Frames} frames ({Seconds:0} s)",
                        sequences.Count, inputs.Count, sequences.Sum(s => s.Rows), clock.Elapsed.TotalSeconds);
                }
            }
            return sequences.Count > 0 ? sequences : throw new TrainingDataException("nothing to evaluate");
        }
        finally
        {
            models?.Dispose();
        }
    }

    internal static List<float[]> Windows(SequenceTrainer.Sequence sequence, int frames, int stride)
    {
        var features = sequence.Values.Length / sequence.Rows;
        var windows = new List<float[]>();
        for (var start = 0; start + frames <= sequence.Rows; start += stride)
        {
            windows.Add(sequence.Values.AsSpan(start * features, frames * features).ToArray());
        }
        return windows;
    }

    /// <summary>The index of the largest value in each row.</summary>
    internal static List<int> ArgMaxRows(float[] values, int columns)
    {
        var result = new List<int>(values.Length / columns);
        for (var row = 0; row < values.Length / columns; row++)
        {
            var span = values.AsSpan(row * columns, columns);
            var best = 0;
            for (var k = 1; k < columns; k++)
            {
                if (span[k] > span[best])
                {
                    best = k;
                }
            }
            result.Add(best);
        }
        return result;
    }
}
