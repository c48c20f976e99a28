using System.Text.RegularExpressions;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>Every expected failure: one line on stderr, its own exit code, no stack trace, no results left behind.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    public static TheoryData<string, string[], int, string> Cases => new()
    {
        { "missing file", ["process", "missing.avi"], ExitCodes.InputNotFound, "video file not found: missing.avi" },
        { "ground truth missing", ["eval", "anomaly", "{clip}", "--anomaly-model", "m.onnx", "--out", "out"], ExitCodes.InputNotFound, "ground-truth file not found: " },
        { "corrupt file", ["process", "{random}"], ExitCodes.InputUndecodable, "not a video that can be decoded" },
        { "truncated file", ["process", "{truncated}"], ExitCodes.InputTruncated, "video ends early: decoded" },
        { "url not answering", ["process", "rtsp://127.0.0.1:9/cam"], ExitCodes.SourceUnreachable, "stream did not answer: rtsp://127.0.0.1:9/cam" },
        { "missing model", ["process", "{clip}", "--model", "nowhere/none.onnx"], ExitCodes.ModelNotFound, "frame model not found" },
        { "model of wrong shape", ["process", "{clip}", "--model", "{raw-model}"], ExitCodes.ModelInvalid, "input 'Input247' is Float [1,3,224,224]" },
        { "cuda without gpu", ["process", "{clip}", "--provider", "cuda"], ExitCodes.ProviderUnavailable, "CUDA was requested but cannot run here" },
        { "bad config value", ["process", "{clip}", "--config", "{config:{\"Capture\":{\"MaxFrames\":-1}}}"], ExitCodes.Config, "MaxFrames" },
        { "unknown config key", ["process", "{clip}", "--config", "{config:{\"Capture\":{\"TargetFsp\":5}}}"], ExitCodes.Config, "unknown config key 'Capture:TargetFsp'" },
        { "unknown config section", ["process", "{clip}", "--config", "{config:{\"Captur\":{}}}"], ExitCodes.Config, "unknown config section 'Captur'" },
        { "config not json", ["process", "{clip}", "--config", "{config:{ Capture: }"], ExitCodes.Config, "is not valid JSON" },
        { "cross-field rule", ["process", "{clip}", "--config", "{config:{\"Capture\":{\"ResizeWidth\":320}}}"], ExitCodes.Config, "must be set together" },
        { "unknown nested config key", ["process", "{clip}", "--config", "{config:{\"Delivery\":{\"Mqtt\":{\"Hots\":\"broker\"}}}}"], ExitCodes.Config, "unknown config key 'Delivery:Mqtt:Hots'" },
        { "webhook without url", ["process", "{clip}", "--config", "{config:{\"Delivery\":{\"Webhook\":{\"Enabled\":true}}}}"], ExitCodes.Config, "Delivery:Webhook:Url must be an absolute http:// or https:// URL" },
        { "mqtt wildcard prefix", ["process", "{clip}", "--config", "{config:{\"Delivery\":{\"Mqtt\":{\"Enabled\":true,\"TopicPrefix\":\"edge/#\"}}}}"], ExitCodes.Config, "Delivery:Mqtt:TopicPrefix must be a topic without wildcards" },
        { "mqtt bad port", ["process", "{clip}", "--config", "{config:{\"Delivery\":{\"Mqtt\":{\"Enabled\":true,\"Port\":0,\"Username\":\"u\",\"Password\":\"pw-s3cret\"}}}}"], ExitCodes.Config, "Delivery:Mqtt:Port" },
        { "unknown stream key", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Sorce\":\"x.avi\"}]}}}"], ExitCodes.Config, "unknown config key 'Service:Streams:0:Sorce'" },
        { "duplicate stream ids", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"0\"},{\"Id\":\"a\",\"Source\":\"1\"}]}}}"], ExitCodes.Config, "the stream id 'a' is used 2 times" },
        { "stream event rules", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"0\",\"Events\":{\"AnomalyEnter\":1,\"AnomalyExit\":2}}]}}}"], ExitCodes.Config, "Service:Streams:0:Events: an exit threshold must not be above its enter threshold" },
        { "unknown stream event key", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"0\",\"Events\":{\"Cooldown\":1}}]}}}"], ExitCodes.Config, "unknown config key 'Service:Streams:0:Events:Cooldown'" },
        { "stream source missing", ["run", "--config", "{config:{\"Sources\":{\"FileRoots\":[\".\"]},\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"missing.avi\"}]}}}"], ExitCodes.Config, "the source of stream 'a' is not a file that exists, a camera or a URL: missing.avi" },
        { "stream file outside the roots", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"/etc/passwd\"}]}}}"], ExitCodes.Config, "stream 'a': source refused: files are not allowed for this stream" },
        { "stream file url", ["run", "--config", "{config:{\"Service\":{\"Streams\":[{\"Id\":\"a\",\"Source\":\"file:///etc/passwd\"}]}}}"], ExitCodes.Config, "stream 'a': source refused: 'file:' sources are not allowed" },
        { "process concat source", ["process", "concat:a.avi|b.avi"], ExitCodes.SourceRefused, "source refused: 'concat:' sources are not allowed" },
        { "unknown gating", ["process", "{clip}", "--config", "{config:{\"Objects\":{\"Gating\":\"Sometimes\"}}}"], ExitCodes.Config, "Objects:Gating" },
        { "no crops allowed", ["process", "{clip}", "--config", "{config:{\"Objects\":{\"MaxObjects\":0}}}"], ExitCodes.Config, "MaxObjects" },
        { "object stage without head", ["process", "{clip}", "--config", "{config:{\"Objects\":{\"HeadModel\":\"\"}}}"], ExitCodes.Config, "Objects:HeadModel must name a classification head" },
        { "unknown objects key", ["process", "{clip}", "--config", "{config:{\"Objects\":{\"EveryNth\":3}}}"], ExitCodes.Config, "unknown config key 'Objects:EveryNth'" },
        { "web exposed without token", ["process", "{clip}", "--config", "{config:{\"Web\":{\"Urls\":\"http://0.0.0.0:8080\"}}}"], ExitCodes.Config, "Web:ApiToken must be set when Web:Urls listens beyond this machine" },
        { "config file missing", ["process", "{clip}", "--config", "nope.json"], ExitCodes.Config, "config file not found: nope.json" },
        { "unknown option", ["process", "{clip}", "--frobnicate"], ExitCodes.Usage, "--frobnicate" },
        { "bad provider", ["process", "{clip}", "--provider", "tpu"], ExitCodes.Usage, "tpu" },
        { "mistyped verb", ["lern", "{clip}", "--out", "m.onnx"], ExitCodes.Usage, "unknown verb 'lern' (did you mean 'learn'?); the verbs are process, run, models, bench, learn" },
        { "empty model path", ["process", "{clip}", "--anomaly-model", ""], ExitCodes.Usage, "--anomaly-model has an empty value" },
        { "empty input", ["process", ""], ExitCodes.Usage, "an empty argument (\"\") on the command line" },
        { "stride out of range", ["process", "{clip}", "--stride", "0"], ExitCodes.Usage, "--stride must be between 1 and 10000, not 0" },
        { "batch out of range", ["learn", "{clip}", "--out", "out/m.onnx", "--batch", "0"], ExitCodes.Usage, "--batch must be between 1 and 256, not 0" },
        { "frames not a number", ["process", "{clip}", "--max-frames", "10x"], ExitCodes.Usage, "--max-frames: '10x' is not a whole number" },
        // Command-line values a verb checks itself: usage errors too, found before anything is written (a bad seed after
        // good ones used to be found only once the good ones' suites were written).
        { "suite seeds not a range", ["data", "anomaly", "--seeds", "0-1,x", "--video", "{clip}", "--splice", "{clip}", "--out", "out"], ExitCodes.Usage, "--seeds: 'x' is not a seed" },
        { "activity clips of no frames", ["data", "activity", "--frames", "0", "--video", "{clip}", "--out", "out"], ExitCodes.Usage, "--frames must be at least 8" },
        { "tracking min score above 1", ["eval", "tracking", "--min-score", "2", "--out", "out"], ExitCodes.Usage, "--min-score must be in (0, 1]" },
        { "output not writable", ["process", "{clip}", "--out", "/proc/edge-out"], ExitCodes.OutputNotWritable, "cannot write to output folder /proc/edge-out" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Process_BadInput_OneLineExitCodeAndNoResults(string name, string[] args, int exitCode, string message)
    {
        var resolved = args.Select(Resolve).ToList();
        if (!resolved.Contains("--model"))
        {
            resolved.AddRange(["--model", TestData.FrameModel]);
        }
        if (!resolved.Contains("--out") && resolved[0] == "process")
        {
            resolved.AddRange(["--out", "out"]);
        }
        if (resolved.Contains("--provider") == false)
        {
            resolved.AddRange(["--threads", "2"]);
        }

        var result = await EdgeProcess.RunAsync(_work, [.. resolved]);

        Assert.True(exitCode == result.ExitCode, $"{name}: exit code {result.ExitCode}, stderr: {result.Stderr}");
        var errorLines = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.True(errorLines.Count >= 1, $"{name}: no error line in: {result.Stderr}");
        Assert.Contains(message, errorLines[0], StringComparison.Ordinal);
        if (exitCode == ExitCodes.Usage)
        {
            Assert.True(errorLines.Count == 1, $"{name}: {errorLines.Count} error lines: {result.Stderr}");
        }
        // Edge's own log lines and its error line, not OpenCV's or FFmpeg's before it ("[ WARN:0@0.025] global
        // cap.cpp:215 ...", "[msmpeg4 @ 0x55a3164bdfa0] Error at MB: 1004" for the damaged files).
        var foreign = result.Stderr.Split('\n').Where(l => l.StartsWith('[') && !Regex.IsMatch(l, @"^\[\d\d:\d\d:\d\d [A-Z]{3}\] ")).ToList();
        Assert.True(foreign.Count == 0, $"{name}: lines not Edge's: {string.Join(" | ", foreign)}");
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", result.Stderr, StringComparison.Ordinal); // credentials never reach the console
        var outFiles = Directory.Exists(Path.Combine(_work, "out"))
            ? Directory.EnumerateFileSystemEntries(Path.Combine(_work, "out"), "*", SearchOption.AllDirectories).ToList()
            : [];
        Assert.True(outFiles.Count == 0, $"{name}: left behind {string.Join(", ", outFiles)}");
        Assert.False(Directory.Exists(Path.Combine(_work, "out")), $"{name}: left an empty output folder");
    }

    private string Resolve(string arg)
    {
        switch (arg)
        {
            case "{clip}":
                return TestData.VtestShort;
            case "{random}":
                var random = Path.Combine(_work, "random.avi");
                var bytes = new byte[100_000];
                new Random(11).NextBytes(bytes);
                File.WriteAllBytes(random, bytes);
                return random;
            case "{truncated}":
                var truncated = Path.Combine(_work, "truncated.avi");
                var whole = File.ReadAllBytes(TestData.Vtest);
                File.WriteAllBytes(truncated, whole.AsSpan(0, whole.Length / 10).ToArray());
                return truncated;
            case "{raw-model}":
                var model = Path.Combine(_work, "raw.onnx");
                File.Copy(Edge.Models.FrameModelBuilder.FeaturizerPath, model);
                var manifest = Edge.Models.ModelManifest.Load(Edge.Models.ModelManifest.PathFor(TestData.FrameModel)) with { InputName = "Input247" };
                manifest.Save(Edge.Models.ModelManifest.PathFor(model));
                return model;
            default:
                if (arg.StartsWith("{config:", StringComparison.Ordinal))
                {
                    var config = Path.Combine(_work, "edge.json");
                    File.WriteAllText(config, arg["{config:".Length..^1]);
                    return config;
                }
                return arg;
        }
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
