using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Models;
using Edge.Training;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary><c>edge train cnn</c>: trains the image CNN, exports it as ONNX and checks the export serves the same accuracy.</summary>
public static class TrainCommand
{
    public sealed record CnnArguments(string Data, string Out, TrainOptions Options, int Limit, int ImageSize, bool Grayscale);

    public static int RunCnn(EdgeContext context, CnnArguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Train");
        TorchRuntime.Initialize(args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads, args.Options.Seed);
        var (train, test, labels, source) = LoadData(args, logger);
        logger.LogInformation("Training a CNN on {Train} images ({Width}x{Height}x{Channels}, {Classes} classes), testing on {Test}; up to {Epochs} epochs, batch {Batch}, {Threads} threads",
            train.Count, train.Width, train.Height, train.Channels, labels.Length, test.Count, args.Options.Epochs, args.Options.BatchSize,
            args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads);
        ModelOutput.EnsureWritable(args.Out);

        var trainer = new ImageClassifierTrainer(args.Options with { CheckpointPath = Path.ChangeExtension(args.Out, ".ckpt") });
        var clock = Stopwatch.StartNew();
        var epochs = new Immediate<EpochReport>(e => logger.LogInformation(
            "epoch {Epoch}: train loss {TrainLoss:0.0000}, validation loss {ValidationLoss:0.0000}, validation accuracy {Accuracy:0.00} %{Best} ({Elapsed:0} s)",
            e.Epoch, e.TrainLoss, e.ValidationLoss, (e.ValidationAccuracy ?? 0) * 100, e.Improved ? " (best)" : "", e.Elapsed.TotalSeconds));
        ImageClassifierTrainer.Result result;
        if (AnsiConsole.Profile.Capabilities.Interactive && !System.Console.IsOutputRedirected)
        {
            // A bar per epoch with its steps, loss and time left.
            result = AnsiConsole.Progress().AutoClear(false)
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(progress =>
                {
                    ProgressTask? bar = null;
                    var steps = new Immediate<StepProgress>(s =>
                    {
                        if (bar is null || s.Step == 1)
                        {
                            bar?.StopTask();
                            bar = progress.AddTask($"epoch {s.Epoch}", maxValue: s.Steps);
                        }
                        bar.Value = s.Step;
                        bar.Description = string.Create(CultureInfo.InvariantCulture, $"epoch {s.Epoch} loss {s.Loss:0.000}");
                    });
                    return trainer.Train(train, labels.Length, steps, epochs, ct);
                });
        }
        else
        {
            var lastStepLog = Stopwatch.StartNew();
            var steps = new Immediate<StepProgress>(s =>
            {
                if (lastStepLog.Elapsed > TimeSpan.FromSeconds(15))
                {
                    lastStepLog.Restart();
                    logger.LogInformation("epoch {Epoch}: step {Step}/{Steps}, loss {Loss:0.0000}", s.Epoch, s.Step, s.Steps, s.Loss);
                }
            });
            result = trainer.Train(train, labels.Length, steps, epochs, ct);
        }
        using var network = result.Network;

        var testIndices = Enumerable.Range(0, test.Count).ToArray();
        var (testLoss, torchAccuracy) = ImageClassifierTrainer.Evaluate(network, test, testIndices, result.Normalization);
        ClassifierExport.Write(network, train, result.Normalization, labels, args.Out, source);
        var (onnxAccuracy, onnxCorrect) = EvaluateOnnx(context, args.Out, test);
        var seconds = clock.Elapsed.TotalSeconds;

        var report = new
        {
            model = Path.GetFullPath(args.Out),
            data = args.Data,
            trainImages = train.Count,
            testImages = test.Count,
            labels,
            epochs = result.Epochs,
            stoppedEarly = result.StoppedEarly,
            bestValidationAccuracy = result.BestValidationAccuracy,
            testLoss,
            testAccuracyTorch = torchAccuracy,
            testAccuracyOnnx = onnxAccuracy,
            seconds,
            threads = args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads,
            args.Options.Seed,
        };
        File.WriteAllText(Path.ChangeExtension(args.Out, ".report.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));

        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("epoch", "train loss", "val loss", "val accuracy %", "elapsed s");
        foreach (var e in result.Epochs)
        {
            table.AddRow(e.Epoch.ToString(c) + (e.Improved ? " *" : ""), e.TrainLoss.ToString("0.0000", c), e.ValidationLoss.ToString("0.0000", c),
                ((e.ValidationAccuracy ?? 0) * 100).ToString("0.00", c), e.Elapsed.TotalSeconds.ToString("0", c));
        }
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(string.Create(c,
            $"test accuracy {torchAccuracy * 100:0.00} % (TorchSharp), {onnxAccuracy * 100:0.00} % (ONNX Runtime, {onnxCorrect}/{test.Count}) in {seconds:0} s; model {args.Out}"));
        return Math.Abs(onnxAccuracy - torchAccuracy) <= 0.001 ? ExitCodes.Ok : ExitCodes.ModelInvalid;
    }

    /// <summary><c>edge train bench</c>: TorchSharp training-step timings for the CNN and the GRU.</summary>
    public static int Bench(int threads, int steps, string? jsonPath)
    {
        threads = threads == 0 ? Environment.ProcessorCount : threads;
        TorchRuntime.Initialize(threads, seed: 1);
        var cnn = TrainingBenchmark.Cnn(steps, batch: 64);
        var gru = TrainingBenchmark.Gru(steps, batch: 32);
        var c = CultureInfo.InvariantCulture;
        foreach (var t in new[] { cnn, gru })
        {
            AnsiConsole.WriteLine(string.Create(c, $"TorchSharp {t.Model}: {t.Steps} steps of batch {t.Batch} in {t.Seconds:0.000} s ({t.StepsPerSecond:0.0} steps/s, {threads} threads)"));
        }
        if (jsonPath is not null)
        {
            File.WriteAllText(jsonPath, JsonSerializer.Serialize(new { cnn = cnn.Seconds, gru = gru.Seconds, steps, threads }));
        }
        return ExitCodes.Ok;
    }

    private static (ImageClassifierTrainer.Data Train, ImageClassifierTrainer.Data Test, string[] Labels, string Source) LoadData(CnnArguments args, ILogger logger)
    {
        var idx = FindIdx(args.Data);
        if (idx is not null)
        {
            var train = IdxImages.Load(idx.Value.TrainImages, idx.Value.TrainLabels);
            var test = IdxImages.Load(idx.Value.TestImages, idx.Value.TestLabels);
            if (args.Limit > 0)
            {
                train = train.Take(args.Limit);
                test = test.Take(Math.Max(100, args.Limit / 6));
            }
            var labels = train.Labels.Max() < 10 && args.Data.Contains("fashion", StringComparison.OrdinalIgnoreCase)
                ? IdxImages.FashionMnistLabels
                : [.. Enumerable.Range(0, train.Labels.Max() + 1).Select(i => i.ToString(CultureInfo.InvariantCulture))];
            return (ToData(train), ToData(test), labels, $"idx files in {args.Data}");
        }
        var loaded = ImageFolderDataset.Load(args.Data, args.ImageSize, args.ImageSize, args.Grayscale, logger);
        if (loaded.Skipped > 0)
        {
            logger.LogWarning("{Skipped} files in {Folder} could not be decoded and were skipped", loaded.Skipped, args.Data);
        }
        // Hold out every fifth image of each class for the test set.
        var data = loaded.Data;
        var testMask = Enumerable.Range(0, data.Count).Select(i => i % 5 == 4).ToArray();
        return (Subset(data, i => !testMask[i], args.Limit), Subset(data, i => testMask[i], 0), loaded.Labels, $"image folder {args.Data}");
    }

    private static ImageClassifierTrainer.Data Subset(ImageClassifierTrainer.Data data, Func<int, bool> keep, int limit)
    {
        var imageBytes = data.Height * data.Width * data.Channels;
        var indices = Enumerable.Range(0, data.Count).Where(keep).ToArray();
        if (limit > 0)
        {
            indices = indices[..Math.Min(limit, indices.Length)];
        }
        var pixels = new byte[indices.Length * imageBytes];
        for (var i = 0; i < indices.Length; i++)
        {
            data.Pixels.AsSpan(indices[i] * imageBytes, imageBytes).CopyTo(pixels.AsSpan(i * imageBytes));
        }
        return data with { Pixels = pixels, Labels = [.. indices.Select(i => data.Labels[i])], Count = indices.Length };
    }

    internal static ImageClassifierTrainer.Data ToData(IdxImages images) =>
        new(images.Pixels, [.. images.Labels.Select(l => (long)l)], images.Count, images.Rows, images.Columns, 1);

    internal static (string TrainImages, string TrainLabels, string TestImages, string TestLabels)? FindIdx(string folder)
    {
        string? Find(string stem) => new[] { stem, stem + ".gz" }.Select(n => Path.Combine(folder, n)).FirstOrDefault(File.Exists);
        var trainImages = Find("train-images-idx3-ubyte");
        if (trainImages is null)
        {
            return null;
        }
        var trainLabels = Find("train-labels-idx1-ubyte");
        var testImages = Find("t10k-images-idx3-ubyte");
        var testLabels = Find("t10k-labels-idx1-ubyte");
        if (trainLabels is null || testImages is null || testLabels is null)
        {
            throw new TrainingDataException($"{folder} has train-images-idx3-ubyte but not all of train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte");
        }
        return (trainImages, trainLabels, testImages, testLabels);
    }

    private static (double Accuracy, long Correct) EvaluateOnnx(EdgeContext context, string modelPath, ImageClassifierTrainer.Data test)
    {
        using var classifier = ImageClassifier.Open(modelPath, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var imageBytes = test.Height * test.Width * test.Channels;
        long correct = 0;
        const int batch = 256;
        for (var start = 0; start < test.Count; start += batch)
        {
            var count = Math.Min(batch, test.Count - start);
            var probabilities = classifier.Classify(test.Pixels[(start * imageBytes)..((start + count) * imageBytes)], count);
            var predicted = EvalCommand.ArgMaxRows(probabilities, classifier.Manifest.Labels.Length);
            correct += predicted.Where((label, i) => label == test.Labels[start + i]).Count();
        }
        return (correct / (double)test.Count, correct);
    }
}

/// <summary>Reports on the calling thread, in order (Progress&lt;T&gt; posts to the thread pool and may reorder).</summary>
internal sealed class Immediate<T>(Action<T> report) : IProgress<T>
{
    public void Report(T value) => report(value);
}
