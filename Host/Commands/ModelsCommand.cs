using Edge.Pipeline;
using Edge.Capture;
using Edge.Models;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge models</c> lists the models and their manifests; <c>edge models prepare</c> builds the default frame model
/// and the default object head.
/// </summary>
public static class ModelsCommand
{
    public static int List(EdgeContext context)
    {
        var directory = context.Get<ModelOptions>().Directory;
        var models = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.onnx").Order(StringComparer.Ordinal).ToList()
            : [];
        if (models.Count == 0)
        {
            AnsiConsole.MarkupLine($"no models in {Markup.Escape(Path.GetFullPath(directory))}; run [bold]edge models prepare[/] to create the default frame model");
            return ExitCodes.Ok;
        }
        var frameModel = Path.GetFullPath(context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel));
        foreach (var model in models)
        {
            var role = Path.GetFullPath(model) == frameModel ? "  [green](frame model)[/]" : "";
            var sizeMb = (new FileInfo(model).Length / 1e6).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture);
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(model)}[/]  {sizeMb} MB{role}");
            try
            {
                var manifest = ModelManifest.Load(ModelManifest.PathFor(model));
                AnsiConsole.WriteLine(manifest.ToJson());
            }
            catch (ModelException ex)
            {
                AnsiConsole.MarkupLine($"  [red]{Markup.Escape(ex.Message)}[/]");
            }
        }
        return ExitCodes.Ok;
    }

    public static int Prepare(EdgeContext context, bool force, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Models");
        var path = context.Get<ModelOptions>().Resolve(FrameModelBuilder.DefaultModelFile);
        if (File.Exists(path) && File.Exists(ModelManifest.PathFor(path)) && !force)
        {
            logger.LogInformation("Frame model {Path} is already prepared (use --force to rebuild it)", path);
        }
        else
        {
            var manifest = FrameModelBuilder.PrepareResNet18(path);
            logger.LogInformation("Prepared frame model {Path}: {Input} uint8 NHWC {Width}x{Height} {Order} -> {Output} [N,{Size}]",
                path, manifest.InputName, manifest.InputWidth, manifest.InputHeight, manifest.ChannelOrder, manifest.OutputNames[0], manifest.EmbeddingSize);
        }
        return context.Get<ObjectOptions>().Enabled ? PrepareObjectHead(context, force, logger, ct) : ExitCodes.Ok;
    }

    /// <summary>
    /// The default object head: the crop set from data/vtest.avi (<see cref="ObjectCropsCommand"/>, kept in
    /// data/objects), a head trained on its train split and evaluated on its held-out test split.
    /// </summary>
    private static int PrepareObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct)
    {
        var head = context.Get<ModelOptions>().Resolve(context.Get<ObjectOptions>().HeadModel);
        var crops = ObjectCropsCommand.DefaultFolder;
        // The crop set stays beside the head: its test split is how the head's accuracy is measured again.
        if (File.Exists(head) && File.Exists(ModelManifest.PathFor(head)) && File.Exists(Path.Combine(crops, ObjectCropsCommand.ManifestFile)) && !force)
        {
            logger.LogInformation("Object head {Path} and its crop set {Crops} are already prepared (use --force to rebuild them)", head, crops);
            return ExitCodes.Ok;
        }
        const string video = "data/vtest.avi";
        if (!File.Exists(video))
        {
            logger.LogWarning("{Video} is missing (scripts/fetch-data.sh fetches it): no default object head; the object stage stays off", video);
            return ExitCodes.Ok;
        }
        ObjectCropsCommand.Run(context, new ObjectCropsCommand.Arguments(video, crops, Every: 4, TestFraction: 0.25), ct);
        var options = new Edge.Training.TrainOptions { Epochs = 40, ValidationFraction = 0.2, Patience = 5 };
        var trained = TrainClassifierCommand.Run(context, new TrainClassifierCommand.Arguments(Path.Combine(crops, "train"), head, options), ct);
        if (trained != ExitCodes.Ok)
        {
            return trained;
        }
        return EvalCommand.Run(context, new EvalCommand.Arguments(head, Path.Combine(crops, "test"), null, Path.Combine("out", "eval", Path.GetFileNameWithoutExtension(head))), ct);
    }
}
