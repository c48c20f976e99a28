using System.Globalization;
using Edge.Capture;
using Edge.Models;
using Edge.Models.GridAnomaly;
using Edge.Pipeline.Composition;
using Edge.Pipeline.Outputs;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge learn NORMAL_VIDEO... --out M</c>: learns the default anomaly model from normal footage (or from a feature
/// recording a stream of <c>edge run</c> made) and writes it with its manifest; <c>edge process TEST --anomaly-model M</c>
/// then scores every frame. Plain C#: it runs in the serving bundle too.
/// </summary>
public static class LearnCommand
{
    /// <param name="Inputs">Normal videos, or one finished feature recording folder.</param>
    /// <param name="KeepRecording">Keep the recording of the videos' features in this folder (default: a temporary one, deleted).</param>
    /// <param name="MaxFalseAlarmRate">The model is refused above this held-out false-alarm rate (<see cref="GridAnomalyOptions.MaxFalseAlarmRate"/>).</param>
    public sealed record Arguments(IReadOnlyList<string> Inputs, string Out, string? KeepRecording, double MaxFalseAlarmRate = 0.05);

    public static async Task<int> RunAsync(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Learn");
        CheckOutputs(args);
        await using var models = context.OpenModels();
        FeatureRecording recording;
        string? temporary = null;
        var fromRecording = args.Inputs.Count == 1 && Directory.Exists(args.Inputs[0]);
        if (fromRecording)
        {
            if (!File.Exists(Path.Combine(args.Inputs[0], FeatureRecording.ManifestFile)))
            {
                throw new TrainingDataException($"{args.Inputs[0]} is a folder but not a feature recording (no {FeatureRecording.ManifestFile} in it): give videos, or a folder made by --keep-recording or edge run");
            }
        }
        else
        {
            foreach (var input in args.Inputs)
            {
                if (!File.Exists(input))
                {
                    throw new CaptureException(CaptureError.NotFound, $"video file not found: {input}");
                }
            }
        }
        try
        {
            if (fromRecording)
            {
                recording = FeatureRecording.Open(args.Inputs[0]);
            }
            else
            {
                var folder = args.KeepRecording ?? (temporary = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(args.Out))!, $".{Path.GetFileName(args.Out)}.recording-{Environment.ProcessId}"));
                logger.LogInformation("Recording the features of {Count} video(s) into {Folder}", args.Inputs.Count, folder);
                recording = await AnomalyLearning.RecordAsync(args.Inputs, folder, context.Get<CaptureOptions>(), models, context.LoggerFactory, ct).ConfigureAwait(false);
            }
            var progress = new Progress<string>(step => logger.LogInformation("Learning: {Step}", step));
            var source = $"learned from {string.Join(", ", args.Inputs.Select(Path.GetFileName))} on {DateTime.UtcNow:yyyy-MM-dd}";
            var (manifest, report) = await Task.Run(() => AnomalyLearning.Learn(recording, args.Out, models.FrameModel.Manifest, source,
                new GridAnomalyOptions { MaxFalseAlarmRate = args.MaxFalseAlarmRate }, progress, ct), ct)
                .ConfigureAwait(false);
            var c = CultureInfo.InvariantCulture;
            // Plain lines (not the console library's, which wraps them at its width even when the output is a file).
            System.Console.WriteLine(string.Create(c,
                $"anomaly model {args.Out} (manifest {ModelManifest.PathFor(args.Out)}): {report.Frames} normal frames ({report.MemoryFrames} in its memories, {report.Frames - report.MemoryFrames} held out to calibrate on), terms {string.Join(", ", manifest.GridAnomaly!.Terms)}; {FalseAlarms(report, args.MaxFalseAlarmRate)}"));
            System.Console.WriteLine($"next: edge process VIDEO --anomaly-model {args.Out}   (frames.jsonl: analysis.anomalyScore per frame, 1.0 = the learned footage's 99th percentile)");
            return ExitCodes.Ok;
        }
        finally
        {
            if (temporary is not null && Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
        }
    }

    /// <summary>
    /// Before any footage is read: the model is a .onnx file that is none of the inputs, and it, its manifest and a kept
    /// recording can be written where they are asked for (a folder in the way is found now, not after the learning).
    /// </summary>
    private static void CheckOutputs(Arguments args)
    {
        if (!args.Out.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase))
        {
            throw new OutputException($"cannot write the model to {args.Out}: an anomaly model's file name ends in .onnx (its manifest is written beside it)");
        }
        var target = Path.GetFullPath(args.Out);
        if (args.Inputs.Any(input => Path.GetFullPath(input) == target))
        {
            throw new OutputException($"cannot write the model to {args.Out}: it is one of the footage files to learn from");
        }
        CheckNotAnotherModel(args.Out);
        ModelOutput.EnsureWritable(args.Out);
        if (args.KeepRecording is { } keep && File.Exists(keep))
        {
            throw new OutputException($"cannot keep the recording in {keep}: it is a file, and the recording is a folder");
        }
    }

    /// <summary>
    /// The model may replace an anomaly model learned before, nothing else: <c>--out models/resnet18-frame.onnx</c> would
    /// have replaced the frame model the learning reads, and <c>--out edge.onnx</c> the configuration (its manifest is
    /// edge.json). A file in the way that is not a learned anomaly model, or its manifest, is refused before any footage is read.
    /// </summary>
    private static void CheckNotAnotherModel(string output)
    {
        var manifest = ModelManifest.PathFor(output);
        if (File.Exists(manifest))
        {
            string? kind;
            try
            {
                kind = ModelManifest.Load(manifest).Kind;
            }
            catch (ModelException)
            {
                kind = null;
            }
            if (kind != ModelManifest.GridAnomalyKind)
            {
                throw new OutputException(kind is null
                    ? $"cannot write the model to {output}: its manifest would replace {manifest}, which is not a model manifest; choose another name"
                    : $"cannot write the model to {output}: it would replace a {kind} model ({manifest}), not an anomaly model learned before; choose another name");
            }
        }
        else if (File.Exists(output))
        {
            throw new OutputException($"cannot write the model to {output}: it would replace a model without a manifest, not an anomaly model learned before; choose another name");
        }
    }

    private static string FalseAlarms(GridAnomalyLearner.Report report, double limit) => report.FalseAlarmRate is { } rate
        ? string.Create(CultureInfo.InvariantCulture, $"held-out false-alarm rate {rate:P1} of frames above 1.0 (limit {limit:P1})")
        : $"held-out false-alarm rate not judged (fewer than {GridAnomalyLearner.BlocksToJudge} held-out blocks: learn for a few minutes more to have it checked)";
}
