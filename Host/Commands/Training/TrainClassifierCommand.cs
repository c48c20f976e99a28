using Edge.Pipeline;
using Edge.Capture;
using System.Globalization;
using System.Runtime.InteropServices;
using Edge.Models;
using Edge.Training;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge train classifier</c>: a classification head on frozen frame-model embeddings of image crops (a folder per
/// class). The crops are embedded by <see cref="FrameEmbedder"/>, as the pipeline embeds frames, and the head is served
/// after it as a second session (<see cref="EmbeddingClassifier"/>).
/// </summary>
public static class TrainClassifierCommand
{
    /// <param name="Grid">Learn from the frame's grid pooled under each crop's box (<see cref="RegionPooling"/>) rather than each crop's embedding.</param>
    public sealed record Arguments(string Data, string Out, TrainOptions Options, bool Grid = false);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Train");
        ModelOutput.EnsureWritable(args.Out);
        if (args.Grid)
        {
            return RunGrid(context, args, logger, ct);
        }
        var frameModel = context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel);
        using var embedder = FrameEmbedder.Open(frameModel, context.Get<ModelOptions>(), context.Get<PipelineOptions>().BatchSize, context.CreateLogger("Edge.Models"));
        var manifest = embedder.Manifest;
        var loaded = ImageFolderDataset.Load(args.Data, manifest.InputWidth, manifest.InputHeight, grayscale: false, logger);
        if (loaded.Skipped > 0)
        {
            logger.LogWarning("{Skipped} files in {Folder} could not be decoded and were skipped", loaded.Skipped, args.Data);
        }
        var embeddings = Embed(embedder, loaded.Data, ct);
        logger.LogInformation("Embedded {Count} crops of {Classes} classes with {Model}", loaded.Data.Count, loaded.Labels.Length, manifest.Name);

        TorchRuntime.Initialize(args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads, args.Options.Seed);
        var progress = new Immediate<EpochReport>(e => logger.LogInformation("epoch {Epoch}: train loss {Loss:0.0000}, validation accuracy {Accuracy:0.0} %{Best}",
            e.Epoch, e.TrainLoss, (e.ValidationAccuracy ?? 0) * 100, e.Improved ? " (best)" : ""));
        var result = new HeadTrainer(args.Options with { CheckpointPath = Path.ChangeExtension(args.Out, ".ckpt") }).Train(embeddings, loaded.Data.Labels, embedder.EmbeddingSize, loaded.Labels.Length, progress, ct);
        using var head = result.Network;
        HeadExport.Write(head, embedder.EmbeddingSize, loaded.Labels, args.Out, $"head over {manifest.Name} embeddings of {args.Data}");

        // Serve it as the pipeline will: frame model, then the head, on the held-out crops.
        using var served = EmbeddingClassifier.Open(args.Out, embedder.EmbeddingSize, null, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var correct = 0;
        foreach (var index in result.Validation)
        {
            var probabilities = served.Classify(embeddings.AsSpan(index * embedder.EmbeddingSize, embedder.EmbeddingSize), 1);
            correct += Array.IndexOf(probabilities, probabilities.Max()) == loaded.Data.Labels[index] ? 1 : 0;
        }
        var servedAccuracy = correct / (double)result.Validation.Length;
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"classifier {args.Out}: held-out accuracy {result.ValidationAccuracy * 100:0.0} % (TorchSharp), {servedAccuracy * 100:0.0} % served by ONNX Runtime after {manifest.Name} ({correct}/{result.Validation.Length}); classes: {string.Join(", ", loaded.Labels)}"));
        return Math.Abs(servedAccuracy - result.ValidationAccuracy) <= 0.001 ? ExitCodes.Ok : ExitCodes.ModelInvalid;
    }

    /// <summary>
    /// The head over grid regions: the crop set's frames (its regions.csv and the video named in crops.json) go
    /// through the frame model whole, as the pipeline sends them, and each crop's box is pooled from the frame's grid.
    /// Trains on <see cref="Arguments.Data"/>'s split and reports the other split (the crop set's held-out frames).
    /// </summary>
    private static int RunGrid(EdgeContext context, Arguments args, ILogger logger, CancellationToken ct)
    {
        var (set, split) = GridSplit(args.Data);
        var heldOutSplit = split == "train" ? "test" : "train";
        var frameModel = context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel);
        using var embedder = FrameEmbedder.Open(frameModel, context.Get<ModelOptions>(), context.Get<PipelineOptions>().BatchSize, context.CreateLogger("Edge.Models"));
        var grid = embedder.Grid ?? throw new ModelException(ModelError.Invalid, $"{frameModel} gives no grid: a head over grid regions needs a frame model with one (edge models prepare --force)");
        var labels = new[] { ObjectDetector.BackgroundLabel, ObjectCropsCommand.PersonLabel };
        var train = GridRegionFeatures(embedder, set, split, labels, logger, ct);
        var heldOut = GridRegionFeatures(embedder, set, heldOutSplit, labels, logger, ct);
        logger.LogInformation("Pooled {Train} {Split} and {HeldOut} {HeldOutSplit} regions from {Model}'s {Layer} grid ({Channels} channels)",
            train.Labels.Length, split, heldOut.Labels.Length, heldOutSplit, embedder.Manifest.Name, grid.Layer, grid.Channels);

        TorchRuntime.Initialize(args.Options.Threads == 0 ? Environment.ProcessorCount : args.Options.Threads, args.Options.Seed);
        var progress = new Immediate<EpochReport>(e => logger.LogInformation("epoch {Epoch}: train loss {Loss:0.0000}, validation accuracy {Accuracy:0.0} %{Best}",
            e.Epoch, e.TrainLoss, (e.ValidationAccuracy ?? 0) * 100, e.Improved ? " (best)" : ""));
        var result = new HeadTrainer(args.Options with { CheckpointPath = Path.ChangeExtension(args.Out, ".ckpt") }).Train(train.Features, train.Labels, grid.Channels, labels.Length, progress, ct);
        using var head = result.Network;
        HeadExport.Write(head, grid.Channels, labels, args.Out, $"head over {embedder.Manifest.Name} {grid.Layer} grid regions of {set} ({split})", EmbeddingClassifier.GridFeatures);

        using var served = EmbeddingClassifier.Open(args.Out, embedder.EmbeddingSize, grid, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        var probabilities = served.Classify(heldOut.Features, heldOut.Labels.Length);
        var correct = Enumerable.Range(0, heldOut.Labels.Length).Count(i => (probabilities[i * 2 + 1] > probabilities[i * 2] ? 1 : 0) == heldOut.Labels[i]);
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"classifier {args.Out} over grid regions: validation accuracy {result.ValidationAccuracy * 100:0.0} % (TorchSharp), held-out {heldOutSplit} split {correct * 100.0 / heldOut.Labels.Length:0.0} % served by ONNX Runtime ({correct}/{heldOut.Labels.Length}); classes: {string.Join(", ", labels)}"));
        return ExitCodes.Ok;
    }

    /// <summary>The crop set folder and split of a split folder such as data/objects/train; a clear error when it is not one.</summary>
    internal static (string Set, string Split) GridSplit(string data)
    {
        var full = Path.GetFullPath(data).TrimEnd(Path.DirectorySeparatorChar);
        var split = Path.GetFileName(full);
        var set = Path.GetDirectoryName(full)!;
        if (split is not ("train" or "test") || !File.Exists(Path.Combine(set, ObjectCropsCommand.ManifestFile)))
        {
            throw new TrainingDataException($"{data}: grid-region features need a split of a crop set from edge data objects (for example data/objects/train)");
        }
        return (set, split);
    }

    /// <summary>
    /// Each region of <paramref name="split"/> pooled from its frame's grid: the set's video decoded in order, the
    /// frames that have regions embedded in batches, as the pipeline embeds whole frames.
    /// </summary>
    internal static (float[] Features, long[] Labels) GridRegionFeatures(FrameEmbedder embedder, string set, string split, string[] labels,
        ILogger logger, CancellationToken ct)
    {
        var grid = embedder.Grid!;
        var regions = ObjectCropsCommand.Region.Load(set).Where(r => r.Split == split).ToList();
        if (regions.Count == 0 || regions.Any(r => Array.IndexOf(labels, r.Label) < 0))
        {
            throw new TrainingDataException($"{Path.Combine(set, ObjectCropsCommand.RegionsFile)}: the {split} split needs regions labeled {string.Join(" or ", labels)}");
        }
        using var manifest = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(set, ObjectCropsCommand.ManifestFile)));
        var video = manifest.RootElement.GetProperty("video").GetString()!;
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"the crop set's video cannot be opened: {video}");
        }
        var byFrame = regions.Select((r, i) => (Region: r, Index: i)).GroupBy(r => r.Region.Frame).ToDictionary(g => g.Key, g => g.ToList());
        var features = new float[regions.Count * grid.Channels];
        var batch = new List<(int Frame, Mat Image)>();
        void Flush()
        {
            try
            {
                embedder.EmbedWithGrid([.. batch.Select(b => b.Image)], out var grids);
                for (var k = 0; k < batch.Count; k++)
                {
                    var image = batch[k].Image;
                    foreach (var (region, index) in byFrame[batch[k].Frame])
                    {
                        RegionPooling.Pool(grids.Slice(k * grid.Size, grid.Size), grid, image.Width, image.Height,
                            region.X1, region.Y1, region.X2, region.Y2, features.AsSpan(index * grid.Channels, grid.Channels));
                    }
                }
            }
            finally
            {
                batch.ForEach(b => b.Image.Dispose());
                batch.Clear();
            }
        }
        var last = byFrame.Keys.Max();
        using var frame = new Mat();
        try
        {
            for (var index = 0; index <= last && capture.Read(frame); index++)
            {
                ct.ThrowIfCancellationRequested();
                if (!byFrame.ContainsKey(index))
                {
                    continue;
                }
                batch.Add((index, frame.Clone()));
                if (batch.Count == embedder.MaxBatch)
                {
                    Flush();
                }
            }
            if (batch.Count > 0)
            {
                Flush();
            }
        }
        finally
        {
            batch.ForEach(b => b.Image.Dispose());
        }
        logger.LogDebug("{Split}: {Regions} regions in {Frames} frames", split, regions.Count, byFrame.Count);
        return (features, [.. regions.Select(r => (long)Array.IndexOf(labels, r.Label))]);
    }

    internal static float[] Embed(FrameEmbedder embedder, ImageClassifierTrainer.Data data, CancellationToken ct)
    {
        var imageBytes = data.Height * data.Width * data.Channels;
        var embeddings = new float[data.Count * embedder.EmbeddingSize];
        var handle = GCHandle.Alloc(data.Pixels, GCHandleType.Pinned);
        try
        {
            var address = handle.AddrOfPinnedObject();
            for (var start = 0; start < data.Count; start += embedder.MaxBatch)
            {
                ct.ThrowIfCancellationRequested();
                var count = Math.Min(embedder.MaxBatch, data.Count - start);
                // Mats over the pinned pixels: no copy, valid while the handle is held, disposed right after use.
                var images = Enumerable.Range(start, count)
                    .Select(i => Mat.FromPixelData(data.Height, data.Width, MatType.CV_8UC3, address + i * imageBytes)).ToList();
                try
                {
                    embedder.Embed(images).CopyTo(embeddings.AsSpan(start * embedder.EmbeddingSize));
                }
                finally
                {
                    images.ForEach(m => m.Dispose());
                }
            }
        }
        finally
        {
            handle.Free();
        }
        return embeddings;
    }
}
