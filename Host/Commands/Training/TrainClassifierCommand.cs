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
    public sealed record Arguments(string Data, string Out, TrainOptions Options);

    public static int Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Train");
        ModelOutput.EnsureWritable(args.Out);
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
        using var served = EmbeddingClassifier.Open(args.Out, embedder.EmbeddingSize, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
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
