using Edge.Models;
using Microsoft.Extensions.Logging;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary><c>edge models</c> lists the models and their manifests; <c>edge models prepare</c> builds the default frame model.</summary>
public static class ModelsCommand
{
    public static int List(EdgeContext context)
    {
        var directory = context.Models.Directory;
        var models = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.onnx").Order(StringComparer.Ordinal).ToList()
            : [];
        if (models.Count == 0)
        {
            AnsiConsole.MarkupLine($"no models in {Markup.Escape(Path.GetFullPath(directory))}; run [bold]edge models prepare[/] to create the default frame model");
            return ExitCodes.Ok;
        }
        var frameModel = Path.GetFullPath(context.Models.Resolve(context.Models.FrameModel));
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

    public static int Prepare(EdgeContext context, bool force)
    {
        var logger = context.CreateLogger("Edge.Models");
        var path = context.Models.Resolve(FrameModelBuilder.DefaultModelFile);
        if (File.Exists(path) && File.Exists(ModelManifest.PathFor(path)) && !force)
        {
            logger.LogInformation("Frame model {Path} is already prepared (use --force to rebuild it)", path);
            return ExitCodes.Ok;
        }
        var manifest = FrameModelBuilder.PrepareResNet18(path);
        logger.LogInformation("Prepared frame model {Path}: {Input} uint8 NHWC {Width}x{Height} {Order} -> {Output} [N,{Size}]",
            path, manifest.InputName, manifest.InputWidth, manifest.InputHeight, manifest.ChannelOrder, manifest.OutputNames[0], manifest.EmbeddingSize);
        return ExitCodes.Ok;
    }
}
