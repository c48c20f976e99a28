using System.CommandLine;
using System.Globalization;
using Edge.Capture;
using Edge.Host.Commands;
using Edge.Models;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Cli;

public static partial class EdgeCli
{
    private static Command ProcessVerb()
    {
        var input = new Argument<string>("input") { Description = "Video file, image folder, camera (0 or /dev/video0) or stream URL (rtsp://, http://)" };
        var output = new Option<string?>("--out") { Description = "Results folder (default: out/<stream id>)" };
        var maxFrames = Within(new Option<long?>("--max-frames") { Description = "Stop after this many frames" }, 0, long.MaxValue, "0 (all) or more");
        var targetFps = Within(new Option<double?>("--target-fps") { Description = "Keep this many frames per second (0 keeps all)" }, 0, 1000, "between 0 (all) and 1000");
        var stride = Within(new Option<int?>("--stride") { Description = "Keep every Nth frame of a file" }, 1, 10_000, "between 1 and 10000");
        var annotate = new Option<bool>("--annotate") { Description = "Also write annotated.mp4" };
        var anomalyModel = new Option<string?>("--anomaly-model") { Description = "Sequence model scoring anomalies (sets Analysis:AnomalyModel)" };
        var activityModel = new Option<string?>("--activity-model") { Description = "Sequence model recognising activity (sets Analysis:ActivityModel)" };
        var noObjects = new Option<bool>("--no-objects") { Description = "Turn the object stage off for this run (sets Objects:Enabled=false)" };
        var realtime = new Option<bool>("--realtime") { Description = "Play a file at its own frame rate, as a camera would (frames are dropped when Edge falls behind)" };
        var command = new Command("process", "Run a video, folder, camera or stream through the pipeline and write results")
        {
            input, output, maxFrames, targetFps, stride, annotate, realtime, anomalyModel, activityModel, noObjects,
        };
        command.SetAction((parse, _) =>
        {
            var overrides = CommonOverrides(parse);
            Set(overrides, "Capture:MaxFrames", parse.GetValue(maxFrames));
            Set(overrides, "Capture:TargetFps", parse.GetValue(targetFps));
            Set(overrides, "Capture:FrameStride", parse.GetValue(stride));
            Set(overrides, "Analysis:AnomalyModel", parse.GetValue(anomalyModel) is { } a ? Path.GetFullPath(a) : null);
            Set(overrides, "Analysis:ActivityModel", parse.GetValue(activityModel) is { } b ? Path.GetFullPath(b) : null);
            Set(overrides, "Objects:Enabled", parse.GetValue(noObjects) ? (bool?)false : null);
            var args = new ProcessCommand.Arguments(parse.GetValue(input)!, parse.GetValue(output),
                parse.GetValue(annotate), parse.GetValue(realtime));
            return GuardAsync(parse, overrides, (context, stop) =>
            {
                // A model named on the command line is wanted: its absence is an error, not a run without it (a model
                // named only in the config may be missing unless Analysis:Required says otherwise).
                foreach (var (flag, path) in new[] { ("--anomaly-model", parse.GetValue(anomalyModel)), ("--activity-model", parse.GetValue(activityModel)) })
                {
                    if (path is not null && !File.Exists(path))
                    {
                        throw new ModelException(ModelError.NotFound, $"{flag}: sequence model not found: {path}");
                    }
                }
                return ProcessCommand.RunAsync(context, args, stop);
            });
        });
        return command;
    }

    private static Command RunVerb()
    {
        var command = new Command("run", "Run as a service: every stream of Service:Streams (files in a loop, cameras, RTSP/HTTP URLs) at once, "
            + "with reconnects, events and the web dashboard; SIGTERM or Ctrl+C drains and exits 0, SIGHUP reloads the streams from the config");
        var duration = new Option<double?>("--for") { Description = "Stop after this many seconds (benchmarks and smoke tests); default: run until SIGTERM or Ctrl+C" };
        command.Options.Add(duration);
        command.SetAction(async (parse, _) =>
        {
            // SIGHUP is handled from the first moment: without a handler it would end the process while it starts.
            using var reloads = new Edge.Host.Service.ReloadRequests();
            return await GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
                RunCommand.RunAsync(context, parse.GetValue(duration) is { } s ? TimeSpan.FromSeconds(s) : null, stop, reloads)).ConfigureAwait(false);
        });
        return command;
    }

    private static Command ModelsVerb()
    {
        var command = new Command("models", "List the models found and their manifests");
        command.SetAction((parse, _) =>
            GuardAsync(parse, CommonOverrides(parse), (context, _) => Task.FromResult(ModelsCommand.List(context))));
        var force = new Option<bool>("--force") { Description = "Rebuild even if the model exists" };
        var prepare = new Command("prepare", "Build the default frame model (ResNet18 ImageNet featurizer, uint8 NHWC input, any batch) and, from data/vtest.avi, the default object head") { force };
        prepare.SetAction((parse, _) =>
            GuardAsync(parse, CommonOverrides(parse), (context, stop) => Task.Run(() => ModelsCommand.Prepare(context, parse.GetValue(force), stop), stop)));
        command.Subcommands.Add(prepare);
        return command;
    }

    private static Command BenchVerb()
    {
        var video = new Argument<string>("video") { Description = "Video file to measure with" };
        var frames = new Option<int>("--frames") { Description = "Frames to use from the start of the video", DefaultValueFactory = _ => 300 };
        var json = new Option<string?>("--json") { Description = "Also write the numbers to this JSON file" };
        var anomaly = new Option<string?>("--anomaly-model") { Description = "Also time this anomaly model alone on the same frames, and its cost against the CNN's" };
        var streams = new Option<int>("--streams")
        {
            Description = "Also run this many streams of the video at once through one shared CNN, as edge run does: aggregate and per-stream fps, batch sizes, and aggregate / inference-only",
            DefaultValueFactory = _ => 0,
        };
        streams.Validators.Add(r =>
        {
            if (Parsed<int>(r) is < 0 or > 64)
            {
                r.AddError("--streams must be between 0 and 64");
            }
        });
        var capacity = new Option<int>("--capacity")
        {
            Description = "Also find how many live streams of the video at 10 fps the machine holds (every stream's p99 frame age at most 1 s, no frame dropped): steps of this many seconds, doubling the streams until one fails, then halving the gap",
            DefaultValueFactory = _ => 0,
        };
        capacity.Validators.Add(r =>
        {
            if (Parsed<int>(r) is < 0 or > 600 or (> 0 and < 5))
            {
                r.AddError("--capacity must be 0 (off) or 5 to 600 seconds a step");
            }
        });
        var command = new Command("bench", "Measure decode-only, inference-only and end-to-end fps on the same frames, and their ratio")
        {
            video, frames, json, anomaly, streams, capacity,
        };
        command.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse),
            (context, stop) => BenchCommand.RunAsync(context, parse.GetValue(video)!, parse.GetValue(frames), parse.GetValue(json), stop, parse.GetValue(anomaly),
                parse.GetValue(streams), parse.GetValue(capacity))));
        return command;
    }

    private static Command LearnVerb()
    {
        var inputs = new Argument<string[]>("normal") { Description = "Normal footage: one or more videos, or a feature recording folder made by edge run", Arity = ArgumentArity.OneOrMore };
        RejectOptionLikeInputs(inputs);
        var output = new Option<string>("--out") { Description = "Model to write (.onnx; its manifest is written beside it)", Required = true };
        var keep = new Option<string?>("--keep-recording") { Description = "Keep the videos' recorded features in this folder (default: a temporary folder, deleted)" };
        var falseAlarms = new Option<double>("--max-false-alarm-rate")
        {
            Description = "Refuse the model (write nothing, exit 12) when more than this share of held-out normal frames scores above 1.0",
            DefaultValueFactory = _ => new Edge.Models.GridAnomaly.GridAnomalyOptions().MaxFalseAlarmRate,
        };
        falseAlarms.Validators.Add(r =>
        {
            if (Parsed<double>(r) is <= 0 or > 1)
            {
                r.AddError("--max-false-alarm-rate must be above 0 and at most 1 (0.05 is 5 % of frames)");
            }
        });
        var command = new Command("learn", "Learn the default anomaly model from normal footage (no training stack needed); edge process --anomaly-model then scores every frame")
        {
            inputs, output, keep, falseAlarms,
        };
        command.SetAction((parse, _) => GuardAsync(parse, CommonOverrides(parse), (context, stop) =>
            LearnCommand.RunAsync(context, new LearnCommand.Arguments(parse.GetValue(inputs)!, parse.GetValue(output)!, parse.GetValue(keep), parse.GetValue(falseAlarms)), stop)));
        return command;
    }

    /// <summary>
    /// Adds a range check to a numeric option, reported as a usage error that names the flag (exit 2) before anything
    /// starts; a value that is not a number is left to the parser's own message.
    /// </summary>
    internal static Option<T> Within<T>(Option<T> option, double min, double max, string range)
    {
        option.Validators.Add(r =>
        {
            if (r.Tokens.Count > 0 && double.TryParse(r.Tokens[^1].Value, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && (value < min || value > max))
            {
                r.AddError($"{option.Name} must be {range}, not {r.Tokens[^1].Value}");
            }
        });
        return option;
    }

    /// <summary>
    /// The option's value for a range check, or null when its text is not a number: the parser reports that itself,
    /// and reading the value in a validator would throw.
    /// </summary>
    private static T? Parsed<T>(System.CommandLine.Parsing.OptionResult r) where T : struct
    {
        try
        {
            return r.GetValueOrDefault<T>();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>
    /// A list argument takes every word the parser does not know, so a mistyped option (<c>--otu</c>) would be read as
    /// a file name; a word that starts with <c>--</c> and names no file is reported as the unknown option it is.
    /// </summary>
    internal static void RejectOptionLikeInputs(Argument<string[]> argument) => argument.Validators.Add(r =>
    {
        foreach (var token in r.Tokens)
        {
            if (token.Value.StartsWith("--", StringComparison.Ordinal) && !File.Exists(token.Value) && !Directory.Exists(token.Value))
            {
                r.AddError($"unrecognized option {token.Value}");
            }
        }
    });
}
