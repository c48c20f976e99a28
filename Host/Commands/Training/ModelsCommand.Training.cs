using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Commands;

public static partial class ModelsCommand
{
    /// <summary>
    /// The default object heads: the crop set from data/vtest.avi (<see cref="ObjectCropsCommand"/>, kept in
    /// data/objects), two heads trained on its train split (over crop embeddings, and over grid regions) and evaluated
    /// on its held-out test split; both are written to Models:Directory.
    /// </summary>
    static partial void PrepareObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct, ref int result)
    {
        result = PrepareDefaultObjectHead(context, force, logger, ct);
    }

    /// <summary>The head over crop embeddings that <c>edge models prepare</c> trains.</summary>
    public const string CropHead = "objects-head.onnx";

    /// <summary>The head over grid regions that <c>edge models prepare</c> trains, the default <c>Objects:HeadModel</c>.</summary>
    public const string GridHead = "objects-grid-head.onnx";

    private static int PrepareDefaultObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct)
    {
        var models = context.Get<ModelOptions>();
        var crops = ObjectCropsCommand.DefaultFolder;
        // The crop set stays beside the head: its test split is how the head's accuracy is measured again.
        if (new[] { models.Resolve(CropHead), models.Resolve(GridHead) }.All(h => File.Exists(h) && File.Exists(ModelManifest.PathFor(h)))
            && File.Exists(Path.Combine(crops, ObjectCropsCommand.ManifestFile))
            && File.Exists(Path.Combine(crops, ObjectCropsCommand.RegionsFile)) && !force)
        {
            logger.LogInformation("Object heads {Crop} and {Grid} and their crop set {Crops} are already prepared (use --force to rebuild them)",
                models.Resolve(CropHead), models.Resolve(GridHead), crops);
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
        // Both heads learn from the same crop set: over each crop's embedding (a CNN pass a crop), and over the frame's
        // grid pooled under each box (no pass of its own); Objects:HeadModel chooses, the grid head by default.
        foreach (var (path, grid) in new[] { (models.Resolve(CropHead), false), (models.Resolve(GridHead), true) })
        {
            var trained = TrainClassifierCommand.Run(context, new TrainClassifierCommand.Arguments(Path.Combine(crops, "train"), path, options, grid), ct);
            if (trained != ExitCodes.Ok)
            {
                return trained;
            }
            var evaluated = EvalCommand.Run(context, new EvalCommand.Arguments(path, Path.Combine(crops, "test"), null, Path.Combine("out", "eval", Path.GetFileNameWithoutExtension(path))), ct);
            if (evaluated != ExitCodes.Ok)
            {
                return evaluated;
            }
        }
        return ExitCodes.Ok;
    }
}
