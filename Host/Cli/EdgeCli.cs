using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Globalization;
using Edge.Capture;
using Edge.Host.Commands;
using Edge.Models;
using Edge.Pipeline.Outputs;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Cli;

/// <summary>
/// The <c>edge</c> command line: the root command, the options every verb shares, and the mapping of failures to
/// exit codes. The serving verbs (process, run, bench, models, learn) are in every build; the training verbs (train,
/// eval, data) only in the full build, which references Training (<c>-p:EdgeServing=true</c> leaves them out).
/// </summary>
public static partial class EdgeCli
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (System.Console.IsOutputRedirected)
        {
            // Logs and CI: keep the summary table on whole lines instead of wrapping it at 80 columns.
            Spectre.Console.AnsiConsole.Profile.Width = 140;
        }
        var root = Build();
        var parse = root.Parse(args);
        List<string> problems = UnknownVerb(root, args) is { } unknown ? [unknown]
            : parse.Errors.Count > 0 ? [.. parse.Errors.Select(e => Readable(e.Message))]
            : EmptyValue(parse) is { } empty ? [empty]
            : [];
        if (problems.Count > 0)
        {
            foreach (var message in problems)
            {
                await System.Console.Error.WriteLineAsync($"error: {message}").ConfigureAwait(false);
            }
            await System.Console.Error.WriteLineAsync("see: edge --help").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }).ConfigureAwait(false);
    }

    private static readonly Option<string?> s_config = new("--config")
    {
        Description = $"Configuration file (default: {EdgeConfiguration.DefaultConfigPath})",
        Recursive = true,
    };

    private static readonly Option<string?> s_provider = new Option<string?>("--provider")
    {
        Description = "Where the CNN runs: auto (CUDA if it works here, else CPU), cuda, cpu",
        Recursive = true,
    }.AcceptOnlyFromAmong("auto", "cuda", "cpu");

    private static readonly Option<int?> s_threads = Within(new Option<int?>("--threads")
    {
        Description = "CPU threads for the CNN (0 = one per core)",
        Recursive = true,
    }, 0, 256, "between 0 (one per core) and 256");

    private static readonly Option<int?> s_batch = Within(new Option<int?>("--batch")
    {
        Description = "Most frames per CNN call",
        Recursive = true,
    }, 1, 256, "between 1 and 256");

    private static readonly Option<string?> s_model = new("--model")
    {
        Description = "Frame model (.onnx with its .json manifest beside it)",
        Recursive = true,
    };

    public static RootCommand Build()
    {
        var root = new RootCommand("Edge: real-time video analytics. Reads video files, cameras, streams and image folders, runs a CNN on every frame and writes per-frame results.");
        root.Options.Add(s_config);
        root.Options.Add(s_provider);
        root.Options.Add(s_threads);
        root.Options.Add(s_batch);
        root.Options.Add(s_model);
        root.Subcommands.Add(ProcessVerb());
        root.Subcommands.Add(RunVerb());
        root.Subcommands.Add(ModelsVerb());
        root.Subcommands.Add(BenchVerb());
        root.Subcommands.Add(LearnVerb());
        AddTrainingVerbs(root);
        var help = root.Options.OfType<HelpOption>().Single();
        help.Action = new SubcommandHelp((SynchronousCommandLineAction)help.Action!);
        return root;
    }

    /// <summary>
    /// Help that leaves out a parent command's arguments. System.CommandLine lists them in a subcommand's usage and
    /// arguments (<c>edge eval &lt;model&gt; &lt;data&gt; anomaly &lt;videos&gt;...</c>), but Edge's parents take them
    /// instead of a subcommand, never before one: <c>edge eval MODEL DATA</c> or <c>edge eval anomaly VIDEOS</c>.
    /// </summary>
    private sealed class SubcommandHelp(SynchronousCommandLineAction help) : SynchronousCommandLineAction
    {
        public override bool ClearsParseErrors => true;

        public override int Invoke(ParseResult parse)
        {
            var inherited = parse.CommandResult.Command.Parents.OfType<Command>().SelectMany(c => c.Arguments).Select(a => $"<{a.Name}>").ToList();
            if (inherited.Count == 0)
            {
                return help.Invoke(parse);
            }
            var output = parse.InvocationConfiguration.Output;
            using var text = new StringWriter();
            parse.InvocationConfiguration.Output = text;
            int result;
            try
            {
                result = help.Invoke(parse);
            }
            finally
            {
                parse.InvocationConfiguration.Output = output;
            }
            output.Write(WithoutArguments(text.ToString(), inherited, parse.CommandResult.Command.Name));
            return result;
        }

        /// <summary>
        /// The help text without <paramref name="arguments"/>: out of the usage line before the command's own name, and
        /// their entries (with any wrapped lines) out of the Arguments section, the first entry of each name only (a
        /// subcommand may have an argument of the same name, listed after its parents').
        /// </summary>
        private static string WithoutArguments(string help, IReadOnlyList<string> arguments, string command)
        {
            var lines = help.Split('\n').ToList();
            var usage = lines.FindIndex(l => l.TrimEnd() == "Usage:") + 1;
            if (usage > 0 && usage < lines.Count)
            {
                var at = lines[usage].IndexOf($" {command}", StringComparison.Ordinal);
                if (at > 0)
                {
                    var before = lines[usage][..at];
                    foreach (var argument in arguments)
                    {
                        before = before.Replace($" {argument}", "", StringComparison.Ordinal);
                    }
                    lines[usage] = before + lines[usage][at..];
                }
            }
            var section = lines.FindIndex(l => l.TrimEnd() == "Arguments:");
            foreach (var argument in section < 0 ? [] : arguments)
            {
                var entry = lines.FindIndex(section, l => l.StartsWith($"  {argument} ", StringComparison.Ordinal) || l.TrimEnd() == $"  {argument}");
                if (entry < 0)
                {
                    continue;
                }
                var end = entry + 1;
                while (end < lines.Count && lines[end].StartsWith("   ", StringComparison.Ordinal) && !lines[end].TrimStart().StartsWith('<'))
                {
                    end++;
                }
                lines.RemoveRange(entry, end - entry);
            }
            if (section >= 0 && (section + 1 >= lines.Count || lines[section + 1].Trim().Length == 0))
            {
                lines.RemoveRange(section, section + 1 < lines.Count ? 2 : 1); // nothing of its own left: no empty section
            }
            return string.Join('\n', lines);
        }
    }


    /// <summary>
    /// A first word that is neither an option nor a verb: one message with the verb it most likely meant, instead of
    /// the parser's line per word ("Required command was not provided", then each word unrecognized).
    /// </summary>
    private static string? UnknownVerb(RootCommand root, string[] args)
    {
        if (args.Length == 0 || args[0].StartsWith('-') || root.Subcommands.Any(c => c.Name == args[0] || c.Aliases.Contains(args[0])))
        {
            return null;
        }
        var verbs = root.Subcommands.Where(c => !c.Hidden).Select(c => c.Name).ToList();
        var nearest = verbs.MinBy(v => EditDistance(v, args[0]));
        var guess = nearest is not null && EditDistance(nearest, args[0]) <= 2 ? $" (did you mean '{nearest}'?)" : "";
        return $"unknown verb '{args[0]}'{guess}; the verbs are {string.Join(", ", verbs)}";
    }

    private static int EditDistance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var diagonal = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var above = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                diagonal = above;
            }
        }
        return row[b.Length];
    }

    /// <summary>
    /// An empty word on the command line (<c>--anomaly-model ""</c>, an unset shell variable) names no file or value: a
    /// usage error naming the option it was given to, before anything starts.
    /// </summary>
    private static string? EmptyValue(ParseResult parse)
    {
        var tokens = parse.Tokens;
        for (var i = 0; i < tokens.Count; i++)
        {
            if (tokens[i].Type == System.CommandLine.Parsing.TokenType.Argument && string.IsNullOrWhiteSpace(tokens[i].Value))
            {
                return i > 0 && tokens[i - 1].Type == System.CommandLine.Parsing.TokenType.Option
                    ? $"{tokens[i - 1].Value} has an empty value"
                    : "an empty argument (\"\") on the command line: it names no file";
            }
        }
        return null;
    }

    /// <summary>
    /// The parser's message for a value of the wrong type in words: "--max-frames: '10x' is not a whole number" for
    /// "Cannot parse argument '10x' for option '--max-frames' as expected type 'System.Nullable`1[System.Int64]'".
    /// </summary>
    private static string Readable(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message,
            @"^Cannot parse argument '(.*)' for (?:option|argument) '(.*)' as expected type 'System\.(?:Nullable`1\[System\.)?(\w+)\]?'\.?$");
        if (!match.Success)
        {
            return message;
        }
        var type = match.Groups[3].Value switch
        {
            "Int32" or "Int64" => "a whole number",
            "Double" or "Single" => "a number",
            "Boolean" => "true or false",
            var other => $"a value of type {other}",
        };
        return $"{match.Groups[2].Value}: '{match.Groups[1].Value}' is not {type}";
    }

    /// <summary>Adds train, eval and data: implemented only in the full build.</summary>
    static partial void AddTrainingVerbs(RootCommand root);

    private static Dictionary<string, string?> CommonOverrides(ParseResult parse)
    {
        var overrides = new Dictionary<string, string?>();
        Set(overrides, "Models:Provider", parse.GetValue(s_provider));
        Set(overrides, "Models:IntraOpThreads", parse.GetValue(s_threads));
        Set(overrides, "Pipeline:BatchSize", parse.GetValue(s_batch));
        Set(overrides, "Models:FrameModel", parse.GetValue(s_model) is { } model ? Path.GetFullPath(model) : null);
        return overrides;
    }

    private static void Set<T>(Dictionary<string, string?> overrides, string key, T? value)
    {
        if (value is not null)
        {
            overrides[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
        }
    }

    /// <summary>
    /// Starts the host, runs the verb and maps every expected failure to one line on stderr and its exit code.
    /// Only unexpected failures print a stack trace.
    /// </summary>
    private static async Task<int> GuardAsync(ParseResult parse, Dictionary<string, string?> overrides,
        Func<EdgeContext, CancellationToken, Task<int>> verb)
    {
        using var stop = new StopSignal();
        EdgeContext? context = null;
        try
        {
            context = await EdgeContext.StartAsync(parse.GetValue(s_config), overrides, stop.Token).ConfigureAwait(false);
            return await verb(context, stop.Token).ConfigureAwait(false);
        }
        catch (CaptureException ex)
        {
            return Fail(context, ExitCodes.For(ex.Error), ex.Message);
        }
        catch (ModelException ex)
        {
            return Fail(context, ExitCodes.For(ex.Error), ex.Message);
        }
        catch (UsageException ex)
        {
            return Fail(context, ExitCodes.Usage, ex.Message);
        }
        catch (ConfigException ex)
        {
            return Fail(context, ExitCodes.Config, ex.Message);
        }
        catch (Edge.Pipeline.Composition.StreamConfigException ex)
        {
            return Fail(context, ExitCodes.Config, ex.Message);
        }
        catch (Exception ex) when (ex.GetBaseException() is Edge.Pipeline.Zones.ZoneLayoutException zones)
        {
            // Zones are checked against the frame size at the first frame: a point outside it is a config error too.
            return Fail(context, ExitCodes.Config, zones.Message);
        }
        catch (OutputException ex)
        {
            return Fail(context, ExitCodes.OutputNotWritable, ex.Message);
        }
        catch (TrainingDataException ex)
        {
            return Fail(context, ExitCodes.TrainingDataUnusable, ex.Message);
        }
        catch (OperationCanceledException) when (stop.Token.IsCancellationRequested)
        {
            return Fail(context, ExitCodes.Interrupted, "interrupted");
        }
        catch (Exception ex) when (NativeDependencies.Describe(ex) is { } missing)
        {
            return Fail(context, ExitCodes.NativeLibraryMissing, missing, ex);
        }
        catch (Exception ex)
        {
            // One line on the console; the stack trace goes to the log file only.
            var where = LogDetails(context, ex);
            await System.Console.Error.WriteLineAsync($"error: unexpected failure: {ex.GetType().Name}: {FirstLine(ex.Message)}{where}").ConfigureAwait(false);
            return ExitCodes.Unexpected;
        }
        finally
        {
            if (context is not null)
            {
                await context.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static int Fail(EdgeContext? context, int exitCode, string message, Exception? detail = null)
    {
        if (context is not null)
        {
            var logger = context.CreateLogger("Edge");
            using (logger.BeginScope(new Dictionary<string, object> { [EdgeConfiguration.ShownToUser] = true }))
            {
                logger.LogError(detail, "{Message} (exit code {ExitCode})", message, exitCode);
            }
        }
        System.Console.Error.WriteLine($"error: {message}");
        return exitCode;
    }

    internal static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd();

    /// <summary>
    /// Writes the whole exception to the log file (the verb's, or the default one when the failure came before the
    /// configuration was read) and says where, for the one console line.
    /// </summary>
    private static string LogDetails(EdgeContext? context, Exception ex)
    {
        if (context is not null)
        {
            var logger = context.CreateLogger("Edge");
            using (logger.BeginScope(new Dictionary<string, object> { [EdgeConfiguration.ShownToUser] = true }))
            {
                logger.LogCritical(ex, "Unexpected failure");
            }
            return context.LogFile is { } file ? $" (details in {file})" : "";
        }
        try
        {
            var file = Path.GetFullPath(Path.Combine("logs", $"edge-crash-{DateTime.UtcNow:yyyyMMdd-HHmmss}.log"));
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            File.WriteAllText(file, $"{DateTime.UtcNow:O} unexpected failure\n{ex}\n");
            return $" (details in {file})";
        }
        catch (Exception write) when (write is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }
}
