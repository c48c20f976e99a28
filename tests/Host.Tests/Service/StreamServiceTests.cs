using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Edge.Host.Commands;
using Edge.Host.Service;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Host.Tests.Service;

/// <summary>The live service on real looping video: streams run side by side on one shared CNN and come and go alone.</summary>
public sealed class StreamServiceTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    private string WriteConfig(object service, object? web = null)
    {
        var path = Path.Combine(_work, "edge.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            Models = new { Directory = Path.GetDirectoryName(TestData.FrameModel), FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 2 },
            Logging = new { File = "" },
            // The test footage and this test's folder are where streams may read files (the source policy's roots).
            Sources = new { FileRoots = new[] { Path.GetDirectoryName(TestData.VtestShort)!, _work } },
            Web = web ?? new { Enabled = false },
            Service = service,
        }));
        return path;
    }

    [Fact]
    public async Task Streams_AddedAndRemovedAtRuntime_OthersKeepRunning()
    {
        var config = WriteConfig(new { DataDirectory = Path.Combine(_work, "data") });
        await using var context = await EdgeContext.StartAsync(config, new Dictionary<string, string?>(), CancellationToken.None);
        var models = ModelCatalog.OpenShared(context.ModelSettings(), 8, 10, NullLoggerFactory.Instance);
        var embedder = models.Shared!;
        await using (models)
        {
            using var store = new SqliteEventStore(Path.Combine(_work, "events.db"));
            var events = Path.Combine(_work, "events");
            Directory.CreateDirectory(events);
            await using var service = new StreamService(StreamServiceContext.From(context, models, store, events));
            var a = new StreamDefinition("a", TestData.VtestShort, TargetFps: 5, Loop: true,
                Events: new Edge.Pipeline.Events.EventRules { AnomalyEnter = 2, AnomalyExit = 1.5 });
            await service.AddAsync(a, CancellationToken.None);
            await service.AddAsync(new StreamDefinition("b", TestData.VtestShort, TargetFps: 5, Loop: true), CancellationToken.None);
            await WaitUntil(() => service.Streams.All(s => s.FramesProcessed >= 10), "both streams process frames");
            Assert.All(service.Streams, s => Assert.Equal(StreamState.Running, s.State));

            Assert.True(await service.RemoveAsync("b", CancellationToken.None));
            Assert.Null(service.Find("b"));
            var before = service.Find("a")!.FramesProcessed;
            await WaitUntil(() => service.Find("a")!.FramesProcessed >= before + 10, "stream a goes on after b is removed");

            var duplicate = await Assert.ThrowsAsync<ArgumentException>(() => service.AddAsync(a, CancellationToken.None));
            Assert.Contains("already running", duplicate.Message, StringComparison.Ordinal);
            var missing = await Assert.ThrowsAsync<ArgumentException>(() =>
                service.AddAsync(new StreamDefinition("c", Path.Combine(_work, "none.avi")), CancellationToken.None));
            Assert.Contains("source file not found", missing.Message, StringComparison.Ordinal);

            // A reload that keeps a as it is (its event rules equal, though another object) and adds c: a is not
            // restarted (its counters go on), c starts.
            var processed = service.Find("a")!.FramesProcessed;
            var sameA = a with { Events = new Edge.Pipeline.Events.EventRules { AnomalyEnter = 2, AnomalyExit = 1.5 } };
            await service.ApplyAsync([sameA, new StreamDefinition("c", TestData.VtestShort, TargetFps: 5, Loop: true)], CancellationToken.None);
            Assert.True(service.Find("a")!.FramesProcessed >= processed, "a kept its counters");
            await WaitUntil(() => service.Find("c") is { FramesProcessed: >= 5 }, "c starts on reload");
            Assert.Equal(["a", "c"], service.Streams.Select(s => s.Id));

            // A file that does not loop plays once (at its own 10 fps) and its stream stops; the others go on.
            await service.AddAsync(new StreamDefinition("once", TestData.VtestShort), CancellationToken.None);
            await WaitUntil(() => service.Find("once") is { State: StreamState.Stopped }, "the file without loop ends");
            var once = service.Find("once")!;
            Assert.Equal(50, once.FramesRead);
            Assert.Equal(once.FramesRead, once.FramesProcessed + once.FramesDropped);
            Assert.Null(once.LastError);
            Assert.Equal(StreamState.Running, service.Find("a")!.State);
            Assert.True(embedder.Frames >= embedder.Calls, "the shared CNN ran");
        }
    }

    [Fact]
    public async Task Run_TwoStreamsWithWeb_ServedLiveThenSigtermDrainsAndExitsZero()
    {
        var port = FreePort();
        var config = WriteConfig(web: new { Urls = $"http://127.0.0.1:{port}" }, service: new
        {
            DataDirectory = Path.Combine(_work, "data"),
            Streams = new[]
            {
                new { Id = "left", Source = TestData.VtestShort, Loop = true, TargetFps = 5.0 },
                new { Id = "right", Source = TestData.VtestShort, Loop = true, TargetFps = 5.0 },
            },
        });
        using var process = EdgeProcess.Start(_work, "run", "--config", config);
        try
        {
            await ServeThenStopAsync(process, port);
        }
        finally
        {
            // A failed assertion must not leave the service running.
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    private async Task ServeThenStopAsync(Process process, int port)
    {
        var stderr = new System.Text.StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (stderr) { stderr.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        await WaitUntil(() => { lock (stderr) { return Regex.Matches(stderr.ToString(), "started on").Count == 2; } }, "both streams start");

        // While it runs: the API lists both streams running, /metrics counts their frames, and the dashboard in
        // headless Chromium shows both with a decoded live preview.
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        await WaitUntil(() =>
        {
            var streams = JsonDocument.Parse(http.GetStringAsync("/api/streams").GetAwaiter().GetResult()).RootElement;
            return streams.GetArrayLength() == 2 && streams.EnumerateArray().All(s =>
                s.GetProperty("state").GetString() == "running" && s.GetProperty("framesProcessed").GetInt64() > 5);
        }, "both streams are running in the API");
        var metrics = await http.GetStringAsync("/metrics");
        Assert.Matches("edge_stream_frames_processed_total\\{stream=\"left\"\\} [1-9]", metrics);
        Assert.Contains("edge_inference_seconds_count", metrics, StringComparison.Ordinal);
        if (File.Exists("/usr/bin/chromium"))
        {
            var dom = await Web.DashboardTests.RenderAsync(new Uri($"http://127.0.0.1:{port}/"),
                page => page.Contains("<span class=\"stream-id\">right</span>", StringComparison.Ordinal)
                    && page.Contains("preview.mjpg", StringComparison.Ordinal));
            Assert.Contains("<span class=\"stream-id\">left</span>", dom, StringComparison.Ordinal);
            Assert.Contains("2 of 2 streams running", dom, StringComparison.Ordinal);
        }
        using (var kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        var log = stderr.ToString();
        Assert.True(process.ExitCode == 0, log);
        foreach (var id in new[] { "left", "right" })
        {
            var stopped = Regex.Match(log, $@"{id}: stopped after (\d+) frames read, (\d+) processed");
            Assert.True(stopped.Success, log);
            Assert.True(int.Parse(stopped.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) > 0, log);
        }
        Assert.True(File.Exists(Path.Combine(_work, "data", SqliteEventStore.FileName)));
        Assert.True(Directory.Exists(Path.Combine(_work, "data", RunCommand.EventsFolderName)));
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    [Fact]
    public async Task Stream_WithoutAnomalyModel_LearnsItsOwnAndPutsItInWhileRunning()
    {
        var data = Path.Combine(_work, "data");
        var config = WriteConfig(new { DataDirectory = data, LearnMinutes = 0.6 });
        await using var context = await EdgeContext.StartAsync(config, new Dictionary<string, string?>(), CancellationToken.None);
        var models = ModelCatalog.OpenShared(context.ModelSettings(), 8, 10, NullLoggerFactory.Instance);
        await using (models)
        {
            using var store = new SqliteEventStore(Path.Combine(_work, "events.db"));
            var events = Path.Combine(_work, "events");
            Directory.CreateDirectory(events);
            await using (var service = new StreamService(StreamServiceContext.From(context, models, store, events)))
            {
                await service.AddAsync(new StreamDefinition("cam", TestData.Vtest, Loop: true), CancellationToken.None);
                await WaitUntil(() => service.Find("cam") is { Learning: { } l } && l.StartsWith("learning (", StringComparison.Ordinal), "the stream records");
                Assert.Null(service.Find("cam")!.AnomalyScore);
                Assert.True(Directory.Exists(Path.Combine(data, "learning", "cam")));
                Assert.Equal(RelearnOutcome.NoStream, service.Relearn("other"));

                var clock = Stopwatch.StartNew();
                while (service.Find("cam")!.Learning?.StartsWith("learned anomaly-", StringComparison.Ordinal) != true)
                {
                    Assert.True(clock.Elapsed.TotalSeconds < 240, $"the stream did not learn its model: {service.Find("cam")}");
                    await Task.Delay(200);
                }
                var model = Assert.Single(Directory.GetFiles(Path.Combine(data, "models", "cam"), "anomaly-*.onnx"));
                Assert.Equal(ModelManifest.GridAnomalyKind, ModelManifest.Load(ModelManifest.PathFor(model)).Kind);
                Assert.False(Directory.Exists(Path.Combine(data, "learning", "cam")), "the recording is deleted once learned from");
                // Put in while the stream runs: scores come, and the stream was never stopped or faulted for it.
                var processed = service.Find("cam")!.FramesProcessed;
                await WaitUntil(() => service.Find("cam")!.AnomalyScore is not null, "the learned model scores frames", seconds: 30);
                var status = service.Find("cam")!;
                Assert.Equal((StreamState.Running, 0L), (status.State, status.Faults));
                Assert.True(status.FramesProcessed >= processed);

                // Relearning records again while the learned model goes on scoring.
                Assert.Equal(RelearnOutcome.Started, service.Relearn("cam"));
                await WaitUntil(() => service.Find("cam")!.Learning?.StartsWith("learning (", StringComparison.Ordinal) == true, "the stream records again");
                var scores = service.AnomalyHistory("cam").Count;
                await WaitUntil(() => service.AnomalyHistory("cam").Count > scores || scores >= 200, "scores go on while it records");
            }
            // Stopped while recording again: the unfinished recording is not left behind (it is never resumed).
            Assert.False(Directory.Exists(Path.Combine(data, "learning", "cam")), "a recording stopped before it ended is removed");

            // A newer model damaged on disk (with its manifest) is passed over for the one before it: the stream runs.
            var learned = Assert.Single(Directory.GetFiles(Path.Combine(data, "models", "cam"), "anomaly-*.onnx"));
            var damaged = Path.Combine(data, "models", "cam", "anomaly-99991231T000000Z.onnx");
            File.WriteAllBytes(damaged, [.. File.ReadAllBytes(learned).Take(5000)]);
            File.Copy(ModelManifest.PathFor(learned), ModelManifest.PathFor(damaged));

            // The next start finds the learned model and uses it from the first frame: it does not learn again.
            await using (var again = new StreamService(StreamServiceContext.From(context, models, store, events)))
            {
                await again.AddAsync(new StreamDefinition("cam", TestData.Vtest, Loop: true), CancellationToken.None);
                Assert.Equal($"learned {Path.GetFileName(learned)}", again.Find("cam")!.Learning);
                await WaitUntil(() => again.Find("cam")!.AnomalyScore is not null, "the learned model scores from the start", seconds: 60);
                Assert.Equal((StreamState.Running, 0L), (again.Find("cam")!.State, again.Find("cam")!.Faults));
            }
        }
    }

    [Fact]
    public async Task Stream_LearningFromFootageWhereNothingMoves_FailsWithTheReason_RemovesItsRecording_AndServesOn()
    {
        var still = Path.Combine(_work, "still.avi");
        using (var capture = new OpenCvSharp.VideoCapture(TestData.Vtest))
        using (var frame = new OpenCvSharp.Mat())
        {
            Assert.True(capture.Read(frame));
            using var writer = new OpenCvSharp.VideoWriter(still, OpenCvSharp.FourCC.MJPG, 10, frame.Size());
            for (var i = 0; i < 50; i++)
            {
                writer.Write(frame);
            }
        }
        var data = Path.Combine(_work, "data");
        var config = WriteConfig(new { DataDirectory = data, LearnMinutes = 0.4 });
        await using var context = await EdgeContext.StartAsync(config, new Dictionary<string, string?>(), CancellationToken.None);
        var models = ModelCatalog.OpenShared(context.ModelSettings(), 8, 10, NullLoggerFactory.Instance);
        await using (models)
        {
            using var store = new SqliteEventStore(Path.Combine(_work, "events.db"));
            var events = Path.Combine(_work, "events");
            Directory.CreateDirectory(events);
            await using var service = new StreamService(StreamServiceContext.From(context, models, store, events));
            await service.AddAsync(new StreamDefinition("still", still, Loop: true), CancellationToken.None);
            var clock = Stopwatch.StartNew();
            while (service.Find("still")!.Learning?.StartsWith("learning failed", StringComparison.Ordinal) != true)
            {
                Assert.True(clock.Elapsed.TotalSeconds < 180, $"learning did not end: {service.Find("still")}");
                await Task.Delay(200);
            }
            Assert.Contains("too uniform", service.Find("still")!.Learning, StringComparison.Ordinal);
            Assert.False(Directory.Exists(Path.Combine(data, "learning", "still")), "the recording is removed when learning fails");
            Assert.False(Directory.Exists(Path.Combine(data, "models", "still")) && Directory.EnumerateFiles(Path.Combine(data, "models", "still")).Any(), "no model is left");
            var processed = service.Find("still")!.FramesProcessed;
            await WaitUntil(() => service.Find("still")!.FramesProcessed > processed + 10, "the stream serves on without a model");
            Assert.Equal((StreamState.Running, 0L, (float?)null), (service.Find("still")!.State, service.Find("still")!.Faults, service.Find("still")!.AnomalyScore));
        }
    }

    [Fact]
    public async Task ConfiguredAnomalyModel_FileReplaced_IsReloadedWithoutStopping_ABrokenFileKeepsThePrevious()
    {
        var data = Path.Combine(_work, "data");
        var config = WriteConfig(new { DataDirectory = data });
        await using var context = await EdgeContext.StartAsync(config, new Dictionary<string, string?>(), CancellationToken.None);
        var models = ModelCatalog.OpenShared(context.ModelSettings(), 8, 10, NullLoggerFactory.Instance);
        await using (models)
        {
            // Two models learned from the same 400 frames: all four terms, and the frame term alone.
            var recording = await AnomalyLearning.RecordAsync([TestData.Vtest], Path.Combine(_work, "recording"),
                new Edge.Capture.CaptureOptions { MaxFrames = 400 }, models, NullLoggerFactory.Instance, CancellationToken.None);
            var all = Path.Combine(_work, "all.onnx");
            var frameOnly = Path.Combine(_work, "frame-only.onnx");
            AnomalyLearning.Learn(recording, all, models.FrameModel.Manifest, "test");
            AnomalyLearning.Learn(recording, frameOnly, models.FrameModel.Manifest, "test", new Edge.Models.GridAnomaly.GridAnomalyOptions { Terms = ["frame"] });
            var configured = Path.Combine(_work, "camera.onnx");
            CopyModel(all, configured);

            using var store = new SqliteEventStore(Path.Combine(_work, "events.db"));
            var events = Path.Combine(_work, "events");
            Directory.CreateDirectory(events);
            using var stop = new CancellationTokenSource();
            await using var service = new StreamService(StreamServiceContext.From(context, models, store, events));
            var watching = service.WatchModelsAsync(stop.Token);
            await service.AddAsync(new StreamDefinition("cam", TestData.Vtest, TargetFps: 10, Loop: true, AnomalyModel: configured), CancellationToken.None);
            await WaitUntil(() => service.Find("cam")!.AnomalyScore is not null, "the configured model scores");
            Assert.Null(service.Find("cam")!.AnomalyModel);
            await Task.Delay(StreamService.ModelCheckInterval * 2); // the watcher has seen the file as loaded

            // Replaced by another model: reloaded into the running stream, which never stops or faults for it.
            CopyModel(frameOnly, configured);
            await WaitUntil(() => service.Find("cam")!.AnomalyModel?.StartsWith("reloaded camera.onnx", StringComparison.Ordinal) == true, "the new file is reloaded", seconds: 30);
            var processed = service.Find("cam")!.FramesProcessed;
            var scores = service.AnomalyHistory("cam").Count;
            await WaitUntil(() => service.AnomalyHistory("cam").Count >= Math.Min(scores + 20, 200), "scores go on with the new model");
            Assert.Equal((StreamState.Running, 0L), (service.Find("cam")!.State, service.Find("cam")!.Faults));
            Assert.True(service.Find("cam")!.FramesProcessed > processed);
            Assert.Equal(["frame"], models.SequenceModel(configured, "anomaly")!.Manifest.GridAnomaly!.Terms);

            // Replaced by a file that is not a model: a status line, and the previous model goes on scoring.
            File.WriteAllText(configured, "not a model");
            await WaitUntil(() => service.Find("cam")!.AnomalyModel?.Contains("cannot be used", StringComparison.Ordinal) == true, "the broken file is reported", seconds: 30);
            scores = service.AnomalyHistory("cam").Count;
            await WaitUntil(() => service.AnomalyHistory("cam").Count >= Math.Min(scores + 20, 200), "scores go on with the previous model");
            Assert.Equal((StreamState.Running, 0L), (service.Find("cam")!.State, service.Find("cam")!.Faults));

            await stop.CancelAsync();
            await watching;
        }
    }

    private static void CopyModel(string from, string to)
    {
        File.Copy(from, to, overwrite: true);
        File.Copy(ModelManifest.PathFor(from), ModelManifest.PathFor(to), overwrite: true);
    }

    private static async Task WaitUntil(Func<bool> condition, string what, int seconds = 90)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed.TotalSeconds < seconds, $"timed out waiting until {what}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
