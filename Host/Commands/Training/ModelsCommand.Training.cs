using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Commands;

public static partial class ModelsCommand
{
    /// <summary>
    /// The default object head: the crop set from data/vtest.avi (<see cref="ObjectCropsCommand"/>, kept in
    /// data/objects), a head trained on its train split and evaluated on its held-out test split.
    /// </summary>
    static partial void PrepareObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct, ref int result)
    {
        result = PrepareDefaultObjectHead(context, force, logger, ct);
    }

    private static int PrepareDefaultObjectHead(EdgeContext context, bool force, ILogger logger, CancellationToken ct)
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
