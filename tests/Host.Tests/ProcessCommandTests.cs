using System.Diagnostics;
using System.Text.Json;
using Edge.Models;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests;

public sealed class ProcessCommandTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task Process_ShortClip_WritesEveryFrameAndTheSummary()
    {
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("50 frames read, 50 processed, 0 dropped", result.Stdout, StringComparison.Ordinal);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement;
        Assert.Equal(50, summary.GetProperty("framesRead").GetInt64());
        Assert.Equal(50, summary.GetProperty("framesProcessed").GetInt64());
        Assert.Equal(0, summary.GetProperty("framesDropped").GetInt64());
        Assert.True(summary.GetProperty("complete").GetBoolean());
        Assert.Equal("Cpu", summary.GetProperty("model").GetProperty("provider").GetString());
        Assert.Equal(4, summary.GetProperty("stages").GetArrayLength());

        var lines = File.ReadAllLines(Path.Combine(_work, "out", "frames.jsonl"));
        Assert.Equal(Enumerable.Range(0, 50), lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("index").GetInt32()));
        Assert.Equal(4900, JsonDocument.Parse(lines[^1]).RootElement.GetProperty("timestampMs").GetDouble());
        var (values, rows, columns) = NpyFile.Read(Path.Combine(_work, "out", "embeddings.npy"));
        Assert.Equal((50, 512), (rows, columns));
        Assert.True(values.Max() > 0.1f);
        Assert.False(Directory.Exists(Path.Combine(_work, "out", ".incomplete")));
        Assert.True(Directory.EnumerateFiles(Path.Combine(_work, "logs")).Any(), "a log file is written");
    }

    [Fact]
    public async Task Process_Annotate_WritesAVideoThatDecodes()
    {
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out", "--annotate", "--max-frames", "20", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        using var capture = new VideoCapture(Path.Combine(_work, "out", "annotated.mp4"));
        Assert.True(capture.IsOpened());
        using var frame = new Mat();
        var count = 0;
        while (capture.Read(frame))
        {
            Assert.Equal(new Size(768, 576), frame.Size());
            count++;
        }
        Assert.Equal(20, count);
    }

    [Fact]
    public async Task Process_Sigterm_StopsGracefullyAndSaysTheRunIsIncomplete()
    {
        using var process = EdgeProcess.Start(_work, ["process", TestData.Vtest, "--out", "out", .. EdgeProcess.ModelArgs]);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Wait until frames flow (the progress log says so), then ask it to stop as a service manager would.
        var started = Stopwatch.StartNew();
        while (!File.Exists(Path.Combine(_work, "out", ".incomplete", "frames.jsonl")) && started.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(100);
        }
        await Task.Delay(2000);
        Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!.WaitForExit();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(60)).Token);

        Assert.True(process.ExitCode == 130, await stderr);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement;
        Assert.False(summary.GetProperty("complete").GetBoolean());
        var processed = summary.GetProperty("framesProcessed").GetInt64();
        Assert.InRange(processed, 1, 794);
        Assert.Equal(summary.GetProperty("framesRead").GetInt64(), processed);
        Assert.Equal(processed, File.ReadAllLines(Path.Combine(_work, "out", "frames.jsonl")).Length);
        Assert.Contains("stopped before the end", await stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Models_ListsThePreparedModelWithItsManifest()
    {
        var folder = Path.GetDirectoryName(TestData.FrameModel)!;
        var result = await EdgeProcess.RunAsync(_work, ["models", "--model", TestData.FrameModel]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("no models in", result.Stdout, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_work, "edge.json"), $$"""{ "Models": { "Directory": "{{folder}}" } }""");
        result = await EdgeProcess.RunAsync(_work, ["models", "--config", "edge.json"]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("resnet18-frame.onnx", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("(frame model)", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("\"embeddingSize\": 512", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_ListsTheVerbs()
    {
        var result = await EdgeProcess.RunAsync(_work, ["--help"]);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("process <input>", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("bench <video>", result.Stdout, StringComparison.Ordinal);
        Assert.Contains("models", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_OfASubcommand_ShowsItsOwnUsageWithoutItsParentsArguments()
    {
        // `edge eval MODEL DATA` and `edge eval anomaly VIDEOS` are alternatives: the parent's arguments are not a prefix.
        var anomaly = await EdgeProcess.RunAsync(_work, ["eval", "anomaly", "--help"]);
        Assert.Equal(0, anomaly.ExitCode);
        Assert.Contains("edge eval anomaly <videos>... [options]", anomaly.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("eval <model>", anomaly.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Model to evaluate", anomaly.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Classifiers:", anomaly.Stdout, StringComparison.Ordinal);
        Assert.Contains("--anomaly-model", anomaly.Stdout, StringComparison.Ordinal);

        // A subcommand's own argument of the same name as a parent's stays.
        var activity = await EdgeProcess.RunAsync(_work, ["eval", "activity", "-h"]);
        Assert.Equal(0, activity.ExitCode);
        Assert.Contains("edge eval activity <data> [options]", activity.Stdout, StringComparison.Ordinal);
        Assert.Contains("Test clips: a folder with one subfolder per class", activity.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Classifiers:", activity.Stdout, StringComparison.Ordinal);

        // The parent's own help keeps its arguments.
        var eval = await EdgeProcess.RunAsync(_work, ["eval", "--help"]);
        Assert.Equal(0, eval.ExitCode);
        Assert.Contains("edge eval <model> <data> [command] [options]", eval.Stdout, StringComparison.Ordinal);
        Assert.Contains("Classifiers:", eval.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_TwoStreams_EveryFrameOfEachThroughOneSharedCnnAndTheRatios()
    {
        var result = await EdgeProcess.RunAsync(_work, ["bench", TestData.VtestShort, "--frames", "40", "--streams", "2", "--json", "bench.json", .. EdgeProcess.ModelArgs]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("aggregate end-to-end / inference-only = ", result.Stdout, StringComparison.Ordinal);
        var bench = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "bench.json"))).RootElement;
        Assert.Equal(40, bench.GetProperty("Frames").GetInt32());
        var ratio = bench.GetProperty("EndToEndFps").GetDouble() / Math.Min(bench.GetProperty("DecodeFps").GetDouble(), bench.GetProperty("InferenceFps").GetDouble());
        Assert.Equal(ratio, bench.GetProperty("Ratio").GetDouble(), 1e-9);
        var streams = bench.GetProperty("streams");
        Assert.Equal(2, streams.GetProperty("count").GetInt32());
        // Each stream sends every one of its 40 frames through the one CNN, which ran exactly those frames.
        Assert.Equal(80, streams.GetProperty("Frames").GetInt64());
        Assert.Equal(80, streams.GetProperty("CnnFrames").GetInt64());
        var calls = streams.GetProperty("CnnCalls").GetInt64();
        Assert.InRange(calls, 80 / streams.GetProperty("MaxBatch").GetInt32(), 80);
        Assert.Equal(80.0 / calls, streams.GetProperty("FramesPerCall").GetDouble(), 1e-9);
        Assert.All(streams.GetProperty("PerStreamFps").EnumerateArray(), f => Assert.True(f.GetDouble() > 0));
        Assert.Equal(streams.GetProperty("AggregateFps").GetDouble() / bench.GetProperty("InferenceFps").GetDouble(), streams.GetProperty("ratio").GetDouble(), 1e-9);

        // The tracker and the zone monitor at 10 tracks, against the CNN's time per frame in the same run; they kept
        // every identity while measured.
        var tracking = bench.GetProperty("tracking");
        Assert.Equal((10, 10L), (tracking.GetProperty("Tracks").GetInt32(), tracking.GetProperty("Confirmed").GetInt64()));
        var trackingMs = (tracking.GetProperty("TrackerUsPerFrame").GetDouble() + tracking.GetProperty("ZonesUsPerFrame").GetDouble()) / 1000;
        Assert.True(trackingMs > 0, "the tracker's time is measured");
        Assert.Equal(trackingMs / (1000 / bench.GetProperty("InferenceFps").GetDouble()), tracking.GetProperty("share").GetDouble(), 1e-9);
        Assert.Contains("tracker and zones at 10 tracks", result.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bench_Capacity_StepsLiveStreamsUntilOneFailsAndReportsTheMostThatHeld()
    {
        var result = await EdgeProcess.RunAsync(_work, ["bench", TestData.VtestShort, "--frames", "20", "--capacity", "5", "--json", "bench.json", .. EdgeProcess.ModelArgs]);
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("capacity: ", result.Stdout, StringComparison.Ordinal);
        var capacity = System.Text.Json.JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "bench.json"))).RootElement.GetProperty("capacity");
        Assert.Equal(10, capacity.GetProperty("StreamFps").GetDouble());
        Assert.Equal(5, capacity.GetProperty("SecondsPerStep").GetInt32());
        var steps = capacity.GetProperty("Steps").EnumerateArray().Select(s => (
            Streams: s.GetProperty("Streams").GetInt32(), Holds: s.GetProperty("Holds").GetBoolean(), Age: s.GetProperty("WorstAgeP99Ms").GetDouble(),
            Dropped: s.GetProperty("Dropped").GetInt64(), Processed: s.GetProperty("Processed").GetInt64(), Offered: s.GetProperty("Offered").GetInt64())).ToList();
        // A step holds exactly when every frame its cameras offered (5 s at 10 fps each) was processed, none dropped,
        // and the worst stream's p99 frame age stayed within 1 s.
        Assert.All(steps, s =>
        {
            Assert.Equal(s.Streams * 50L, s.Offered);
            Assert.InRange(s.Processed, 0, s.Offered);
            Assert.Equal(s.Age <= 1000 && s.Dropped == 0 && s.Processed == s.Offered, s.Holds);
        });
        // Doubling from one stream, then halving the gap: the answer is the most that held, and one more did not.
        Assert.Equal([1, 2], steps.Take(2).Select(s => s.Streams));
        var most = capacity.GetProperty("Streams").GetInt32();
        Assert.True(most >= 1, "2 cores hold at least one 10 fps stream of 768×576");
        Assert.Equal(most, steps.Where(s => s.Holds).Max(s => s.Streams));
        Assert.Equal(most + 1, steps.Where(s => !s.Holds).Min(s => s.Streams));
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
