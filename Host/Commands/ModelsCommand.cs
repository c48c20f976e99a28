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
public static partial class ModelsCommand
{
    public static int List(EdgeContext context)
    {
        var directory = context.Get<ModelOptions>().Directory;
        // The working directory's models first, then those a bundle carries beside the executable.
        var models = context.Get<ModelOptions>().SearchDirectories().Where(Directory.Exists)
            .SelectMany(folder => Directory.EnumerateFiles(folder, "*.onnx").Order(StringComparer.Ordinal)).ToList();
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
        var prepared = File.Exists(path) && File.Exists(ModelManifest.PathFor(path));
        if (prepared && !force && ModelManifest.Load(ModelManifest.PathFor(path)).Grid is null)
        {
            // Prepared before the frame model gave its grid: anomaly models need it, and the embedding is unchanged.
            logger.LogInformation("Frame model {Path} has no grid output; preparing it again", path);
            prepared = false;
        }
        if (prepared && !force)
        {
            logger.LogInformation("Frame model {Path} is already prepared (use --force to rebuild it)", path);
        }
        else
        {
            var manifest = FrameModelBuilder.PrepareResNet18(path);
            logger.LogInformation("Prepared frame model {Path}: {Input} uint8 NHWC {Width}x{Height} {Order} -> {Output} [N,{Size}]",
                path, manifest.InputName, manifest.InputWidth, manifest.InputHeight, manifest.ChannelOrder, manifest.OutputNames[0], manifest.EmbeddingSize);
        }
        var half = FrameModelBuilder.Float16PathFor(path);
        if (!File.Exists(half) || !File.Exists(ModelManifest.PathFor(half)) || force || !prepared
            || File.GetLastWriteTimeUtc(half) < File.GetLastWriteTimeUtc(path))
        {
            // The fp16 copy that CUDA serves (Models:FramePrecision Auto); the CPU keeps the fp32 model.
            FrameModelBuilder.WriteFloat16(path, half);
            logger.LogInformation("Wrote the fp16 copy {Path} for CUDA", half);
        }
        var result = ExitCodes.Ok;
        if (context.Get<ObjectOptions>().Enabled)
        {
            PrepareObjectHead(context, force, logger, ct, ref result);
        }
        return result;
    }

    /// <summary>Builds the default object head: only the full build trains it; a serving bundle ships it.</summary>
    static partial void PrepareObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct, ref int result);
}
