using System.Diagnostics;
using System.Text.Json;
using Edge.Host.Service;
using Edge.Pipeline.Composition;
using Edge.Pipeline.Events;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Host.Tests.Service;

/// <summary>
/// Streams of the live service under supervision, on real video: a stream whose set-up or run throws shows Faulted with
/// its reason, restarts with backoff while the others run, and shows Running once frames flow again; a reload is one
/// transaction.
/// </summary>
public sealed class StreamSupervisionTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    private async Task<(EdgeContext Context, ModelCatalog Models, SqliteEventStore Store, StreamService Service)> StartAsync()
    {
        var path = Path.Combine(_work, "edge.json");
        File.WriteAllText(path, JsonSerializer.Serialize(new
        {
            Models = new { Directory = Path.GetDirectoryName(TestData.FrameModel), FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 2 },
            Logging = new { File = "" },
            Sources = new { FileRoots = new[] { Path.GetDirectoryName(TestData.VtestShort)!, _work } },
            Web = new { Enabled = false },
            Service = new { DataDirectory = Path.Combine(_work, "data"), RestartBackoffMs = 100, MaxRestartBackoffMs = 400 },
        }));
        var context = await EdgeContext.StartAsync(path, new Dictionary<string, string?>(), CancellationToken.None);
        var models = ModelCatalog.OpenShared(context.ModelSettings(), 8, 10, NullLoggerFactory.Instance);
        var store = new SqliteEventStore(Path.Combine(_work, "events.db"));
        var events = Path.Combine(_work, "events");
        Directory.CreateDirectory(events);
        return (context, models, store, new StreamService(StreamServiceContext.From(context, models, store, events)));
    }

    private string NotAVideo(string name)
    {
        var path = Path.Combine(_work, name);
        var bytes = new byte[100_000];
        new Random(3).NextBytes(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    [Fact]
    public async Task Stream_SetUpFailsUntilTheFileIsFixed_FaultedWithItsReasonThenRunning()
    {
        var (context, models, store, service) = await StartAsync();
        await using (context)
        await using (models)
        using (store)
        await using (service)
        {
            await service.AddAsync(new StreamDefinition("ok", TestData.VtestShort, TargetFps: 5, Loop: true), CancellationToken.None);
            var file = NotAVideo("cam.avi");
            // The REST API refuses a stream that cannot be set up; a configured stream is kept and retried.
            var refused = await Assert.ThrowsAsync<ArgumentException>(() => service.AddAsync(new StreamDefinition("api", file), CancellationToken.None));
            Assert.Contains("stream 'api' cannot be set up: not a video that can be decoded", refused.Message, StringComparison.Ordinal);
            Assert.Null(service.Find("api"));
            await service.AddAsync(new StreamDefinition("cam", file), checkSetUp: false, CancellationToken.None);

            await WaitUntil(() => service.Find("cam") is { State: StreamState.Faulted, Faults: >= 3 }, "the stream faults and is retried");
            var faulted = service.Find("cam")!;
            Assert.StartsWith("not a video that can be decoded", faulted.LastError, StringComparison.Ordinal);
            var health = StreamHealth.Of(service.Streams);
            Assert.False(health.Healthy);
            Assert.StartsWith("degraded: 1 of 2 stream(s) faulted (cam: not a video that can be decoded", health.Text, StringComparison.Ordinal);
            // The other stream runs on, untouched.
            var before = service.Find("ok")!.FramesProcessed;
            await WaitUntil(() => service.Find("ok")!.FramesProcessed > before + 5, "the other stream goes on");
            Assert.Equal(StreamState.Running, service.Find("ok")!.State);

            // The file is fixed: the next restart plays it (a file without loop plays once, then stops).
            // Copied beside it and moved in one step, so no restart opens a half-copied file.
            File.Copy(TestData.VtestShort, file + ".part");
            File.Move(file + ".part", file, overwrite: true);
            var states = new HashSet<StreamState>();
            await WaitUntil(() =>
            {
                var s = service.Find("cam")!;
                states.Add(s.State);
                return s.State == StreamState.Stopped;
            }, "the fixed stream plays to its end");
            var done = service.Find("cam")!;
            Assert.Contains(StreamState.Running, states);
            Assert.Equal((50L, 50L), (done.FramesRead, done.FramesProcessed + done.FramesDropped));
            Assert.Null(done.LastError);
            Assert.True(done.Faults >= faulted.Faults);
            Assert.Equal(new StreamHealth.Verdict(true, "ok"), StreamHealth.Of(service.Streams));
        }
    }

    [Fact]
    public async Task Stream_FailsWhileRunning_RestartsWithBackoffAndItsCountersGoOn()
    {
        var (context, models, store, service) = await StartAsync();
        await using (context)
        await using (models)
        using (store)
        await using (service)
        {
            // vtest-50 cut to 60 % of its bytes: it plays some frames at 10 fps, then ends early, which is a failure.
            var truncated = Path.Combine(_work, "truncated.avi");
            var whole = await File.ReadAllBytesAsync(TestData.VtestShort);
            await File.WriteAllBytesAsync(truncated, whole.AsSpan(0, whole.Length * 6 / 10).ToArray());
            await service.AddAsync(new StreamDefinition("cut", truncated), CancellationToken.None);

            var states = new List<StreamState>();
            long readAtFirstFault = 0;
            await WaitUntil(() =>
            {
                var s = service.Find("cut")!;
                if (states.Count == 0 || states[^1] != s.State)
                {
                    states.Add(s.State);
                }
                if (s.Faults == 1 && readAtFirstFault == 0)
                {
                    readAtFirstFault = s.FramesRead;
                }
                return s.Faults >= 2;
            }, "the stream fails, restarts and fails again");
            var status = service.Find("cut")!;
            Assert.StartsWith("video ends early", status.LastError ?? "", StringComparison.Ordinal);
            Assert.True(readAtFirstFault > 5, $"{readAtFirstFault} frames before the first fault");
            // Counters add up over the restarts: the second run's frames come on top of the first's.
            Assert.True(status.FramesRead > readAtFirstFault, $"{status.FramesRead} read after two runs, {readAtFirstFault} after one");
            // Running, faulted, running again (the restart plays the frames it can), faulted.
            Assert.True(states.IndexOf(StreamState.Faulted) >= 0 && states.Skip(states.IndexOf(StreamState.Faulted)).Contains(StreamState.Running),
                string.Join(", ", states));
        }
    }

    [Fact]
    public async Task ApplyAsync_OneNewStreamCannotBeSetUp_EveryStreamStaysAsItWas()
    {
        var (context, models, store, service) = await StartAsync();
        await using (context)
        await using (models)
        using (store)
        await using (service)
        {
            var a = new StreamDefinition("a", TestData.VtestShort, TargetFps: 5, Loop: true);
            var b = new StreamDefinition("b", TestData.VtestShort, TargetFps: 5, Loop: true);
            await service.ApplyAsync([a, b], CancellationToken.None);
            await WaitUntil(() => service.Streams.All(s => s.FramesProcessed >= 5), "both streams run");

            // b changes, c cannot be set up, d is fine: the reload is refused as a whole, and b is not even stopped.
            var processed = service.Find("b")!.FramesProcessed;
            var broken = new StreamDefinition("c", NotAVideo("c.avi"));
            var refused = await Assert.ThrowsAsync<ArgumentException>(() =>
                service.ApplyAsync([a, b with { TargetFps = 2 }, broken, new StreamDefinition("d", TestData.VtestShort, Loop: true)], CancellationToken.None));
            Assert.Contains("stream 'c' cannot be set up: not a video that can be decoded", refused.Message, StringComparison.Ordinal);
            Assert.Equal(["a", "b"], service.Streams.Select(s => s.Id));
            await WaitUntil(() => service.Find("b")!.FramesProcessed > processed + 3, "b runs on, not restarted");
            Assert.All(service.Streams, s => Assert.Equal(StreamState.Running, s.State));

            // A definition that fails its checks, and a repeated id: refused the same way.
            var missing = await Assert.ThrowsAsync<ArgumentException>(() =>
                service.ApplyAsync([a, new StreamDefinition("e", Path.Combine(_work, "none.avi"))], CancellationToken.None));
            Assert.Equal($"stream 'e': source file not found: {Path.Combine(_work, "none.avi")}", missing.Message);
            await Assert.ThrowsAsync<ArgumentException>(() => service.ApplyAsync([a, b, a], CancellationToken.None));
            Assert.Equal(["a", "b"], service.Streams.Select(s => s.Id));

            // A good reload: b restarts with its new definition (its counters start again), a is untouched.
            var aBefore = service.Find("a")!.FramesProcessed;
            var changes = await service.ApplyAsync([a, b with { TargetFps = 2 }], CancellationToken.None);
            Assert.Equal(new ReloadChanges(Added: 0, Restarted: 1, Removed: 0, Unchanged: 1), changes);
            Assert.True(service.Find("b")!.FramesProcessed < processed, "b was restarted");
            Assert.True(service.Find("a")!.FramesProcessed >= aBefore, "a kept running");
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what, int seconds = 120)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed.TotalSeconds < seconds, $"timed out waiting until {what}");
            await Task.Delay(50);
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
