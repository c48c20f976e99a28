using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>
/// The detector path as a user takes it, through the real <c>edge</c>: scenes with ground truth, Edge's person detector
/// trained on them, tracking measured per box source, and the detector serving <c>edge process</c> with the tracker
/// and a line from the scene.
/// </summary>
public sealed class DetectorTrackingTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task DataTrainEvalProcess_SceneWithADetector_PeopleFoundTrackedAndCounted()
    {
        var scenes = await EdgeProcess.RunAsync(_work, ["data", "scenes", "--video", TestData.Vtest, "--out", "scenes", "--train-scenes", "2", "--test-scenes", "1", "--frames", "120", "--seed", "5"]);
        Assert.True(scenes.ExitCode == 0, scenes.Stderr);
        var trained = await EdgeProcess.RunTorchAsync(_work, ["train", "detector", "scenes", "--out", "models/det.onnx", "--frame-step", "1", "--epochs", "10", "--patience", "10", "--threads", "2"]);
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        Assert.Contains("export parity", trained.Stdout, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "models", "det.ckpt")), "the checkpoint is removed once the model is written");

        var eval = await EdgeProcess.RunAsync(_work, ["eval", "tracking", "scenes", "--detector", "models/det.onnx", "--out", "eval", "--provider", "cpu", "--threads", "2"]);
        Assert.True(eval.ExitCode == 0, eval.Stderr);
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval-tracking.json")));
        var sources = report.RootElement.GetProperty("sources").EnumerateArray().ToDictionary(s => s.GetProperty("source").GetString()!);
        Assert.Equal(["detector det.onnx", "motion regions", "jittered ground truth"], sources.Keys);
        // The same people are counted for every source; the ground truth, jittered, tracks nearly perfectly.
        Assert.Single(sources.Values.Select(s => s.GetProperty("detection").GetProperty("people").GetInt32()).Distinct());
        Assert.True(sources["jittered ground truth"].GetProperty("tracking").GetProperty("mota").GetDouble() > 0.8);
        var detector = sources["detector det.onnx"];
        var recall = detector.GetProperty("detection").GetProperty("recall").GetDouble();
        Assert.True(recall > 0.3, $"the detector trained on two short scenes found {recall:P0} of the test scene's people");
        Assert.True(File.Exists(Path.Combine(_work, "eval", "detector-det-onnx", "test-scene-000.txt")), "MOTChallenge results per source");

        // Per-track activity material from the same scenes, a per-track model trained on it and measured beside the single-frame look.
        var tracks = await EdgeProcess.RunAsync(_work, ["data", "tracks", "scenes", "--out", "tracks", .. EdgeProcess.ModelArgs]);
        Assert.True(tracks.ExitCode == 0, tracks.Stderr);
        var windows = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "tracks", "tracks.json"))).RootElement.GetProperty("windows").EnumerateArray().ToList();
        Assert.Contains(windows, w => w.GetProperty("split").GetString() == "test");
        foreach (var window in windows)
        {
            // Each window is 12 steps of 256 pooled grid channels and 5 box values, its still view and whole frames beside it.
            var file = Path.Combine(_work, "tracks", window.GetProperty("file").GetString()!);
            var (steps, rows, columns) = Edge.Models.NpyFile.Read(file);
            Assert.Equal((12, 261), (rows, columns));
            Assert.All(Enumerable.Range(0, rows), r => Assert.InRange(steps[r * columns + 260], 0.05f, 20f)); // the box's aspect
            var still = Edge.Models.NpyFile.Read(Edge.Host.Commands.DataTracksCommand.StillFor(file));
            Assert.Equal((12, 257), (still.Rows, still.Columns));
        }
        // Windows longer than any person stays: one clear error, and the material written before is untouched.
        var none = await EdgeProcess.RunAsync(_work, ["data", "tracks", "scenes", "--out", "tracks", "--frames", "500", .. EdgeProcess.ModelArgs]);
        Assert.Equal(12, none.ExitCode); // training data unusable
        Assert.Contains("nothing to learn from", none.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", none.Stderr, StringComparison.Ordinal);
        Assert.Equal(windows.Count, JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "tracks", "tracks.json"))).RootElement.GetProperty("windows").GetArrayLength());
        Assert.False(Directory.Exists(Path.Combine(_work, "tracks", ".incomplete")));

        var trackModel = await EdgeProcess.RunAsync(_work, ["train", "sequence", "tracks/train", "--task", "activity", "--input", "track", "--window", "12", "--stride", "3",
            "--out", "models/track.onnx", "--epochs", "8", .. EdgeProcess.ModelArgs]);
        Assert.True(trackModel.ExitCode == 0, trackModel.Stderr);
        var trackManifest = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "models", "track.json"))).RootElement;
        Assert.Equal("track-steps", trackManifest.GetProperty("features").GetString());
        Assert.Equal(261, trackManifest.GetProperty("featureSize").GetInt32());
        var activityEval = await EdgeProcess.RunAsync(_work, ["eval", "activity", "tracks/test", "--activity-model", "models/track.onnx", "--train", "tracks/train",
            "--out", "eval-activity", .. EdgeProcess.ModelArgs]);
        Assert.True(activityEval.ExitCode == 0, activityEval.Stderr);
        var methods = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval-activity", "eval.json"))).RootElement.GetProperty("results").EnumerateArray().ToList();
        Assert.Equal(2, methods.Count);
        Assert.Contains("look", methods[1].GetProperty("method").GetString(), StringComparison.Ordinal);
        Assert.All(methods, m => Assert.Equal(windows.Count(w => w.GetProperty("split").GetString() == "test"), m.GetProperty("windows").GetInt32()));

        // Per-track activity through each box source and the tracker, judged against what the people did.
        var throughTracker = await EdgeProcess.RunAsync(_work, ["eval", "tracking", "scenes", "--detector", "models/det.onnx", "--activity-model", Path.Combine(_work, "models", "track.onnx"),
            "--out", "eval-tracks", .. EdgeProcess.ModelArgs]);
        Assert.True(throughTracker.ExitCode == 0, throughTracker.Stderr);
        Assert.Contains("activity per track, through each box source", throughTracker.Stdout, StringComparison.Ordinal);
        using var trackedReport = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval-tracks", "eval-tracking.json")));
        foreach (var source in trackedReport.RootElement.GetProperty("sources").EnumerateArray())
        {
            var activity = source.GetProperty("activity");
            var judged = activity.GetProperty("judged").GetInt64();
            var confusion = activity.GetProperty("confusion").EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt64()).ToArray()).ToArray();
            var right = Enumerable.Range(0, confusion.Length).Sum(i => confusion[i][i]);
            Assert.Equal(judged - activity.GetProperty("unlabelled").GetInt64(), confusion.Sum(r => r.Sum()));
            Assert.InRange(Math.Abs((judged == 0 ? 0 : right / (double)judged) - activity.GetProperty("accuracy").GetDouble()), 0, 1e-9);
        }
        Assert.True(trackedReport.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString() == "jittered ground truth")
            .GetProperty("activity").GetProperty("judged").GetInt64() > 50, "people tracked from jittered truth are judged in most frames");

        // A per-track model given as the whole-frame activity model is one clear error, nothing written.
        var misplaced = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "misplaced", "--activity-model", "models/track.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(9, misplaced.ExitCode);
        Assert.Contains("configure it as Tracking:ActivityModel", misplaced.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", misplaced.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "misplaced", "frames.jsonl")));
        Assert.Equal(100.0, trackManifest.GetProperty("stepMs").GetDouble()); // the scenes' 10 fps

        // Per-track activity without the object stage (nothing to track): a config error, not a failure.
        File.WriteAllText(Path.Combine(_work, "no-objects.json"), $$"""{ "Tracking": { "ActivityModel": "{{Path.Combine(_work, "models", "track.onnx")}}" } }""");
        var untracked = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "untracked", "--config", "no-objects.json", "--no-objects", .. EdgeProcess.ModelArgs]);
        Assert.Equal(3, untracked.ExitCode);
        Assert.Contains("needs the object stage", untracked.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("unexpected", untracked.Stderr, StringComparison.Ordinal);

        // Served by edge process: every object is a person from the detector, tracked, and the scene's door line counts.
        var scene = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "scenes", "test", "scene-000", "scene.json"))).RootElement;
        var door = scene.GetProperty("lines").EnumerateArray().First();
        File.WriteAllText(Path.Combine(_work, "edge.json"), $$"""
            { "Objects": { "DetectorModel": "{{Path.Combine(_work, "models", "det.onnx")}}", "Gating": "Always", "DetectorMinScore": 0.25 },
              "Tracking": { "ActivityModel": "{{Path.Combine(_work, "models", "track.onnx")}}" },
              "Events": { "ActivityEnter": 0, "ActivityExit": 0 },
              "Zones": { "Lines": [ { "Name": "door", "Points": {{door.GetProperty("points").GetRawText()}} } ] } }
            """);
        var processed = await EdgeProcess.RunAsync(_work, ["process", Path.Combine("scenes", "test", "scene-000", "scene.avi"), "--out", "out", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.True(processed.ExitCode == 0, processed.Stderr);
        var frames = File.ReadAllLines(Path.Combine(_work, "out", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(120, frames.Count);
        var objects = frames.SelectMany(f => f.GetProperty("objects").EnumerateArray()).ToList();
        Assert.True(objects.Count > 120, $"{objects.Count} objects in 120 frames of several people");
        Assert.All(objects, o => Assert.Equal("person", o.GetProperty("label").GetString()));
        Assert.All(objects, o => Assert.InRange(o.GetProperty("confidence").GetDouble(), 0.25, 1.0));
        var trackIds = frames.SelectMany(f => f.GetProperty("tracks").EnumerateArray().Select(t => t.GetProperty("id").GetInt64())).Distinct().Count();
        Assert.InRange(trackIds, 1, 60);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement.GetProperty("objects");
        Assert.Equal("det.onnx", summary.GetProperty("detector").GetString());
        Assert.Equal(120, summary.GetProperty("cropRuns").GetInt64());
        var crossings = frames.Sum(f => f.TryGetProperty("zoneEvents", out var z) ? z.EnumerateArray().Count(e => e.GetProperty("kind").GetString() == "cross") : 0);
        var truth = door.GetProperty("leftToRight").GetInt32() + door.GetProperty("rightToLeft").GetInt32();
        Assert.True(truth > 0, "the scene's people cross its door line");
        Assert.InRange(crossings, 1, truth * 2);

        // Each track that has had a whole window is labelled; every activity event names a track present in its frame
        // (a model trained on two short scenes is never sure, about 0.25 for five classes: here any label starts an
        // episode, so each track's first label and each change of label is an event).
        var labels = trackManifest.GetProperty("labels").EnumerateArray().Select(l => l.GetString()).ToHashSet();
        var labelled = frames.SelectMany(f => f.GetProperty("tracks").EnumerateArray()).Where(t => t.TryGetProperty("activity", out _)).ToList();
        Assert.True(labelled.Count > 12, $"{labelled.Count} labelled track observations in 120 frames");
        Assert.All(labelled, t => Assert.Contains(t.GetProperty("activity").GetString(), labels));
        var activityEvents = File.ReadAllLines(Path.Combine(_work, "out", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "activity").ToList();
        Assert.NotEmpty(activityEvents);
        foreach (var e in activityEvents)
        {
            var frame = frames.Single(f => f.GetProperty("index").GetInt64() == e.GetProperty("peakFrame").GetInt64());
            var track = frame.GetProperty("tracks").EnumerateArray().Single(t => t.GetProperty("id").GetInt64() == e.GetProperty("track").GetInt64());
            Assert.Equal(track.GetProperty("activity").GetString(), e.GetProperty("label").GetString());
            // frames.jsonl rounds to 4 decimals, the event keeps the full value: within half the last digit.
            Assert.InRange(Math.Abs(track.GetProperty("activityConfidence").GetDouble() - e.GetProperty("peakScore").GetDouble()), 0, 5.01e-5);
            Assert.True(File.Exists(Path.Combine(_work, "out", e.GetProperty("snapshot").GetString()!)));
        }

        // edge bench times the per-track stage at 10 tracks, all 10 windows due at a frame in one call.
        var bench = await EdgeProcess.RunAsync(_work, ["bench", TestData.VtestShort, "--frames", "16", "--config", "edge.json", "--json", "bench.json", .. EdgeProcess.ModelArgs]);
        Assert.True(bench.ExitCode == 0, bench.Stderr);
        var benchJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "bench.json"))).RootElement;
        var cost = benchJson.GetProperty("tracking");
        Assert.Equal(10, cost.GetProperty("Confirmed").GetInt64());
        Assert.True(cost.GetProperty("ActivityCalls").GetInt64() > 100, cost.ToString());
        Assert.Equal(10 * cost.GetProperty("ActivityCalls").GetInt64(), cost.GetProperty("ActivityWindows").GetInt64());
        Assert.InRange(Math.Abs(cost.GetProperty("ActivityUsPerFrame").GetDouble() / 1000 / (1000 / benchJson.GetProperty("InferenceFps").GetDouble())
            - cost.GetProperty("activityShare").GetDouble()), 0, 1e-9);
        Assert.Contains("activity per track at 10 tracks", bench.Stdout, StringComparison.Ordinal);

        await RunSceneAsync(Path.Combine(_work, "scenes", "test", "scene-000"), scene, truth);
    }

    /// <summary>
    /// The service with the scene as a stream and the detector: its line and zone counters in the API and /metrics
    /// agree with the zone events it stored, and the door's count is near the scene's truth.
    /// </summary>
    private async Task RunSceneAsync(string sceneFolder, JsonElement scene, int doorTruth)
    {
        var port = FreePort();
        var data = Path.Combine(_work, "data");
        var config = Path.Combine(_work, "run.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            Models = new { Directory = Path.GetDirectoryName(TestData.FrameModel), FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 2 },
            Objects = new { DetectorModel = Path.Combine(_work, "models", "det.onnx"), Gating = "Always" },
            Tracking = new { ActivityModel = Path.Combine(_work, "models", "track.onnx") },
            Events = new { ActivityEnter = 0, ActivityExit = 0 },
            Analysis = new { AnomalyModel = "", ActivityModel = "" },
            Logging = new { File = "" },
            Sources = new { FileRoots = new[] { _work } },
            Web = new { Urls = $"http://127.0.0.1:{port}" },
            Service = new
            {
                DataDirectory = data,
                LearnMinutes = 0,
                Streams = new[]
                {
                    new
                    {
                        Id = "scene",
                        Source = Path.Combine(sceneFolder, "scene.avi"),
                        Loop = false,
                        Zones = new
                        {
                            Lines = scene.GetProperty("lines").EnumerateArray().Select(l => new { Name = l.GetProperty("name").GetString(), Points = Points(l) }).ToArray(),
                            Zones = scene.GetProperty("zones").EnumerateArray().Select(z => new { Name = z.GetProperty("name").GetString(), Points = Points(z) }).ToArray(),
                        },
                    },
                },
            },
        }));
        using var process = EdgeProcess.Start(_work, "run", "--config", config);
        var log = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        string Log() { lock (log) { return log.ToString(); } }
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        try
        {
            // The file plays at its own rate (12 s) and then the stream stops; its counters stay in its status.
            JsonElement status = default;
            var clock = Stopwatch.StartNew();
            while (true)
            {
                Assert.False(process.HasExited, $"edge run ended:\n{Log()}");
                Assert.True(clock.Elapsed.TotalSeconds < 120, $"the scene did not play through in 2 minutes:\n{Log()}");
                await Task.Delay(500);
                try
                {
                    status = JsonDocument.Parse(await http.GetStringAsync("/api/streams")).RootElement.EnumerateArray().Single();
                }
                catch (HttpRequestException)
                {
                    continue; // not listening yet
                }
                if (status.GetProperty("state").GetString() is "stopped" or "faulted")
                {
                    break;
                }
            }
            Assert.True(status.GetProperty("state").GetString() == "stopped", $"{status}\n{Log()}");
            Assert.True(status.GetProperty("framesProcessed").GetInt64() > 60, status.ToString());
            var door = status.GetProperty("zones").GetProperty("lines").EnumerateArray().Single(l => l.GetProperty("name").GetString() == "door");
            var counted = door.GetProperty("leftToRight").GetInt64() + door.GetProperty("rightToLeft").GetInt64();
            Assert.InRange(counted, 1, doorTruth * 2);

            // Every crossing counted is an event stored (label "cross door ..."), and /metrics says the same per direction.
            var stored = Directory.GetFiles(Path.Combine(data, "events"), "scene.events-*.jsonl").SelectMany(File.ReadAllLines)
                .Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == "zone").ToList();
            Assert.Equal(counted, stored.Count(e => e.GetProperty("label").GetString()!.StartsWith("cross door ", StringComparison.Ordinal)));
            var metrics = await http.GetStringAsync("/metrics");
            var fromMetrics = Regex.Matches(metrics, "edge_line_crossings_total\\{[^}]*line=\"door\"[^}]*\\} (\\d+)")
                .Sum(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
            Assert.Equal(counted, fromMetrics);
            Assert.Matches("edge_zone_entries_total\\{[^}]*zone=\"bench\"", metrics);

            // Per-track activity events are stored like zone events, each naming its track.
            var activity = Directory.GetFiles(Path.Combine(data, "events"), "scene.events-*.jsonl").SelectMany(File.ReadAllLines)
                .Where(l => l.Length > 0).Select(l => JsonDocument.Parse(l).RootElement).Where(e => e.GetProperty("kind").GetString() == "activity").ToList();
            Assert.NotEmpty(activity);
            Assert.All(activity, e => Assert.True(e.GetProperty("track").GetInt64() > 0));
        }
        finally
        {
            if (!process.HasExited)
            {
                using var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term!.WaitForExitAsync();
                if (!process.WaitForExit(60_000))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        Assert.True(process.ExitCode == 0, Log());
    }

    private static double[][] Points(JsonElement shape) =>
        [.. shape.GetProperty("points").EnumerateArray().Select(p => p.EnumerateArray().Select(v => v.GetDouble()).ToArray())];

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Process_DetectorThatIsNotOne_OneClearErrorNoOutput()
    {
        File.WriteAllText(Path.Combine(_work, "fake.onnx"), "weights");
        File.WriteAllText(Path.Combine(_work, "edge.json"), $$"""{ "Objects": { "DetectorModel": "{{Path.Combine(_work, "fake.onnx")}}" } }""");
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.Equal(9, result.ExitCode); // model invalid
        Assert.Contains("fake.onnx", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "out", "frames.jsonl")));
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
