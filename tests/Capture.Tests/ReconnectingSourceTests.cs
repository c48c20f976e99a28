using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Edge.Capture;
using Edge.Tests;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Edge.Capture.Tests;

/// <summary>
/// The reconnecting live source against a real RTSP server (gst-rtsp-server serving vtest-50.avi at 10 fps) that the
/// tests kill, restart and freeze, and against a port where nothing ever listens.
/// </summary>
public sealed class ReconnectingSourceTests(ITestOutputHelper output)
{
    private static readonly TimeSpan s_patience = TimeSpan.FromSeconds(15);

    [Fact]
    public void Read_ServerKilledAndRestarted_FramesFlowAgainWithinFiveSeconds()
    {
        using var server = new RtspServer(TestData.VtestShort, 10);
        var logger = new ListLogger();
        using var source = FrameSources.OpenLive(server.Url, new CaptureOptions { ReadTimeoutMs = 3000 },
            new ReconnectOptions { InitialBackoffMs = 200, MaxBackoffMs = 1000, WatchdogMs = 5000 }, logger: logger);
        using var pool = new FramePool(2);
        using var reader = new Reader(source, pool);

        Assert.True(reader.WaitFor(() => reader.Count >= 10, s_patience), "no frames from the RTSP server: " + Said(logger));
        Assert.True(source.Status is { State: CaptureState.Running, Reconnects: 0 }, Said(logger));
        Assert.Equal((SourceKind.Network, true, 768, 576, 10.0), (source.Info.Kind, source.Info.IsLive, source.Info.Width,
            source.Info.Height, source.Info.Fps));

        server.Kill();
        Assert.True(reader.WaitFor(() => source.Status.State is CaptureState.Backoff or CaptureState.Connecting, s_patience),
            "the source did not notice the server was gone: " + Said(logger));
        Assert.True(source.Status.Reconnects >= 1);
        Assert.NotNull(source.Status.LastError);
        // While the server is away every attempt fails: no frame arrives.
        Thread.Sleep(1500);
        var countWhileDown = reader.Count;
        Assert.NotEqual(CaptureState.Running, source.Status.State);

        server.Start();
        var back = Stopwatch.StartNew();
        Assert.True(reader.WaitFor(() => reader.Count > countWhileDown, s_patience), "no frames after the server returned: " + Said(logger));
        output.WriteLine($"frames flowed again {back.Elapsed.TotalSeconds:0.00} s after the server returned");
        Assert.True(back.Elapsed < TimeSpan.FromSeconds(5), $"frames flowed again {back.Elapsed.TotalSeconds:0.0} s after the server returned");
        Assert.True(reader.WaitFor(() => reader.Count >= countWhileDown + 5, s_patience));
        Assert.Equal(CaptureState.Running, source.Status.State);

        reader.Stop();
        Assert.Null(reader.Failure);
        Assert.Equal(CaptureState.Stopped, source.Status.State);
        Assert.Equal(reader.Count, source.Status.Frames);
        var indices = reader.Indices;
        Assert.True(indices.Zip(indices.Skip(1)).All(p => p.Second > p.First), "indices must increase across the reconnect");
        Assert.Equal(0, pool.Outstanding);
        // The reader holds one frame at a time: a lease left behind by a failed connection would raise the peak.
        Assert.Equal(1, pool.PeakOutstanding);
    }

    [Fact]
    public void Read_ServerFrozen_WatchdogReconnectsAndFramesFlowAfterItThaws()
    {
        using var server = new RtspServer(TestData.VtestShort, 10);
        // The stream's own read timeout is longer than the watchdog, so only the watchdog can notice the stall.
        var logger = new ListLogger();
        using var source = FrameSources.OpenLive(server.Url, new CaptureOptions { ReadTimeoutMs = 60_000 },
            new ReconnectOptions { InitialBackoffMs = 200, MaxBackoffMs = 1000, WatchdogMs = 1500 }, logger: logger);
        using var pool = new FramePool(2);
        using var reader = new Reader(source, pool);
        Assert.True(reader.WaitFor(() => reader.Count >= 5, s_patience), "no frames from the RTSP server: " + Said(logger));

        server.Pause();
        var frozen = Stopwatch.StartNew();
        Assert.True(reader.WaitFor(() => source.Status.Reconnects >= 1, s_patience), "the watchdog did not fire: " + Said(logger));
        // Frames already in the pipes still arrive for a moment; the stall is caught within the watchdog period of them.
        output.WriteLine($"watchdog fired {frozen.Elapsed.TotalSeconds:0.00} s after the server froze");
        Assert.InRange(frozen.Elapsed.TotalMilliseconds, 1500, 5000);
        Assert.Equal("no frame for 1500 ms", source.Status.LastError);

        server.Resume();
        var count = reader.Count;
        var thawed = Stopwatch.StartNew();
        Assert.True(reader.WaitFor(() => reader.Count > count, s_patience), "no frames after the server thawed: " + Said(logger));
        output.WriteLine($"frames flowed again {thawed.Elapsed.TotalSeconds:0.00} s after the thaw");
        Assert.True(thawed.Elapsed < TimeSpan.FromSeconds(5), $"frames flowed again {thawed.Elapsed.TotalSeconds:0.0} s after the thaw");

        reader.Stop();
        Assert.Null(reader.Failure);
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(1, pool.PeakOutstanding);
    }

    [Fact]
    public void Read_NeverReachable_StaysInBackoffWithGrowingDelaysAndStopsPromptly()
    {
        var url = $"rtsp://viewer:s3cret@127.0.0.1:{RtspServer.FreePort()}/test";
        var logger = new ListLogger();
        var options = new ReconnectOptions { InitialBackoffMs = 100, MaxBackoffMs = 1600, BackoffMultiplier = 2 };
        using var source = FrameSources.OpenLive(url, new CaptureOptions { ResizeWidth = 384, ResizeHeight = 288 }, options,
            streamId: "door", logger: logger);
        // Known before any connection: live, the resize size, no frame rate yet.
        Assert.Equal(new SourceInfo(SourceKind.Network, url.Replace("viewer:s3cret@", "***@", StringComparison.Ordinal), true,
            384, 288, 0, null, "ffmpeg"), source.Info);
        using var pool = new FramePool(2);
        var states = new HashSet<CaptureState>();
        using (var reader = new Reader(source, pool))
        {
            var watched = Stopwatch.StartNew();
            while (watched.Elapsed < TimeSpan.FromSeconds(4))
            {
                states.Add(source.Status.State);
                Thread.Sleep(5);
            }
            var stopping = reader.Stop();
            output.WriteLine($"cancel took {stopping.TotalMilliseconds:0} ms");
            Assert.True(stopping < TimeSpan.FromMilliseconds(500), $"cancel took {stopping.TotalMilliseconds:0} ms");
            Assert.Null(reader.Failure);
            Assert.Equal(0, reader.Count);
        }
        var status = source.Status;
        Assert.Equal(CaptureState.Stopped, status.State);
        Assert.Subset(new HashSet<CaptureState> { CaptureState.Connecting, CaptureState.Backoff }, states);
        Assert.Contains(CaptureState.Backoff, states);
        Assert.Null(status.LastFrameUtc);
        Assert.Equal(status.Reconnects, status.ConsecutiveFailures);
        Assert.Contains("***@127.0.0.1", status.LastError);
        // The status says only that the stream did not answer (it would otherwise tell open ports from closed ones);
        // ffmpeg's reason is in the log.
        Assert.StartsWith("stream did not answer: rtsp://***@127.0.0.1", status.LastError, StringComparison.Ordinal);
        Assert.Contains(logger.Entries, e => e.Message.Contains("Connection refused", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("s3cret", StringComparison.Ordinal));

        // Each wait is drawn below a bound that doubles per failure (100, 200, 400, 800, 1600, 1600, ...): in 4 s that
        // allows a handful of attempts, where a fixed 100 ms bound would allow dozens.
        var delays = logger.Entries.Where(e => e.Message.Contains("reconnecting in", StringComparison.Ordinal))
            .Select(e => double.Parse(e.Message.Split("reconnecting in ")[1].Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture))
            .ToList();
        output.WriteLine($"{delays.Count} attempts in 4 s, waits {string.Join(", ", delays)} ms");
        Assert.Equal(status.Reconnects, delays.Count);
        Assert.InRange(delays.Count, 3, 20);
        for (var i = 0; i < delays.Count; i++)
        {
            Assert.InRange(delays[i], 0, options.BackoffCeilingMs(i + 1) + 0.5);
        }
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Read_LoopingFile_StartsAgainAtItsEndAtItsOwnRate()
    {
        var folder = TestData.NewTempFolder();
        try
        {
            // The first 12 frames of vtest (10 fps), so that 30 frames cross the end twice in 3 s.
            var clip = Path.Combine(folder, "clip.avi");
            using (var cut = Process.Start("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-i", TestData.VtestShort,
                       "-frames:v", "12", "-c", "copy", clip]))
            {
                cut.WaitForExit();
            }
            using var source = FrameSources.OpenLive(clip, new CaptureOptions { MaxFrames = 30 }, new ReconnectOptions(), loop: true);
            // Three frames are kept for the comparison below, one more is read.
            using var pool = new FramePool(4);
            var frames = new List<Frame>();
            var clock = Stopwatch.StartNew();
            try
            {
                while (source.Read(pool, CancellationToken.None) is { } frame)
                {
                    if (frame.Index % 12 == 0)
                    {
                        frames.Add(frame);
                        continue;
                    }
                    Assert.True(frame.TimestampMs > 0);
                    frame.Dispose();
                }
                Assert.Equal([0L, 12, 24], frames.Select(f => f.Index));
                Assert.True(frames.Zip(frames.Skip(1)).All(p => p.Second.TimestampMs > p.First.TimestampMs), "timestamps must increase");
                // Each pass starts at the file's first frame: the same pixels.
                using var difference = new Mat();
                Cv2.Absdiff(frames[0].Image, frames[2].Image, difference);
                Assert.Equal(0, Cv2.CountNonZero(difference.Reshape(1)));
            }
            finally
            {
                frames.ForEach(f => f.Dispose());
            }
            // 30 frames at 10 fps: the 29th is due 2.9 s after the first.
            Assert.InRange(clock.Elapsed.TotalSeconds, 2.8, 5);
            Assert.Equal((CaptureState.Stopped, 30L, 0L), (source.Status.State, source.Status.Frames, source.Status.Reconnects));
            Assert.Equal(0, pool.Outstanding);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Theory]
    [InlineData("rtsp://127.0.0.1:8554/test")]
    [InlineData("0")]
    public void OpenLive_LoopOnAStream_IsRejected(string location)
    {
        var error = Assert.Throws<ArgumentException>(() =>
            FrameSources.OpenLive(location, new CaptureOptions(), new ReconnectOptions(), loop: true));
        Assert.StartsWith("only a video file can loop", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(500, 30_000, 2.0, 10_000, null)]
    [InlineData(2000, 1000, 2.0, 10_000, "Reconnect:MaxBackoffMs (1000) must be at least Reconnect:InitialBackoffMs (2000)")]
    [InlineData(500, 30_000, 0.5, 10_000, "The field BackoffMultiplier must be between 1 and 10.")]
    [InlineData(500, 30_000, 2.0, 50, "The field WatchdogMs must be between 100 and 3600000.")]
    public void Validate_Options_RejectsWhatCannotWork(int initialMs, int maxMs, double multiplier, int watchdogMs, string? expected)
    {
        var options = new ReconnectOptions
        {
            InitialBackoffMs = initialMs, MaxBackoffMs = maxMs, BackoffMultiplier = multiplier, WatchdogMs = watchdogMs,
        };
        var error = Record.Exception(options.Validate);
        Assert.Equal(expected, error?.Message);
        Assert.True(error is null or ValidationException);
    }

    [Fact]
    public void BackoffCeilingMs_GrowsByTheMultiplierUpToTheMaximum()
    {
        var options = new ReconnectOptions { InitialBackoffMs = 500, MaxBackoffMs = 30_000, BackoffMultiplier = 2 };
        Assert.Equal([500.0, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000],
            Enumerable.Range(1, 8).Select(options.BackoffCeilingMs));
    }

    private static string Said(ListLogger logger) => string.Join("\n", logger.Entries.Select(e => e.Message));

    /// <summary>Reads on a dedicated thread, as the pipeline's capture stage does, disposing each frame at once.</summary>
    private sealed class Reader : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;
        private readonly List<long> _indices = [];

        public Reader(IFrameSource source, FramePool pool)
        {
            _thread = new Thread(() =>
            {
                try
                {
                    while (source.Read(pool, _stop.Token) is { } frame)
                    {
                        using (frame)
                        {
                            lock (_indices)
                            {
                                _indices.Add(frame.Index);
                            }
                        }
                    }
                    Failure = new InvalidOperationException("a live source returned null");
                }
                catch (OperationCanceledException) when (_stop.IsCancellationRequested)
                {
                }
                catch (Exception ex)
                {
                    Failure = ex;
                }
            });
            _thread.Start();
        }

        public Exception? Failure { get; private set; }

        public int Count
        {
            get
            {
                lock (_indices)
                {
                    return _indices.Count;
                }
            }
        }

        public IReadOnlyList<long> Indices
        {
            get
            {
                lock (_indices)
                {
                    return [.. _indices];
                }
            }
        }

        public bool WaitFor(Func<bool> condition, TimeSpan timeout)
        {
            var clock = Stopwatch.StartNew();
            while (!condition())
            {
                if (clock.Elapsed > timeout || !_thread.IsAlive)
                {
                    return condition();
                }
                Thread.Sleep(20);
            }
            return true;
        }

        /// <summary>Cancels the read and waits for the thread; returns how long that took.</summary>
        public TimeSpan Stop()
        {
            var clock = Stopwatch.StartNew();
            _stop.Cancel();
            _thread.Join();
            return clock.Elapsed;
        }

        public void Dispose()
        {
            if (_thread.IsAlive)
            {
                Stop();
            }
            _stop.Dispose();
        }
    }
}
