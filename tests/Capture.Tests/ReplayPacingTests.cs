using System.Diagnostics;
using Edge.Capture;
using Edge.Tests;

namespace Edge.Capture.Tests;

/// <summary>A file replayed as a camera keeps its clock: a late reader gets the frame due now, not the backlog.</summary>
public sealed class ReplayPacingTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Read_ReaderStallsTwice_SkipsToTheFrameDueInsteadOfDrifting()
    {
        // vtest.avi at its own 10 fps. The reader takes 10 frames, stalls 2 s (a consumer holding the capture thread),
        // takes 10 more, stalls again, takes 10 more.
        using var source = (VideoCaptureSource)FrameSources.Open(TestData.Vtest, new CaptureOptions(), replayAsLive: true);
        using var pool = new FramePool(2);
        var clock = Stopwatch.StartNew();
        var reads = new List<(long Index, double AtSeconds)>();
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 10; i++)
            {
                using var frame = source.Read(pool, CancellationToken.None)!;
                reads.Add((frame.Index, clock.Elapsed.TotalSeconds));
            }
            if (round < 2)
            {
                Thread.Sleep(2000);
            }
        }
        output.WriteLine(string.Join(", ", reads.Select(r => $"{r.Index}@{r.AtSeconds:0.00}")));

        // Each frame is the one due when it is delivered (index = seconds × 10), within half a second of slack; a
        // replay that drifts would deliver frames 10–19 right after the first stall, 2 s late.
        Assert.All(reads, r => Assert.InRange(r.Index, r.AtSeconds * 10 - 7, r.AtSeconds * 10 + 2));
        var afterStall = reads[10].Index;
        Assert.InRange(afterStall, 25, 35);
        Assert.InRange(source.SkippedFrames, 25, 45);
        Assert.Equal(30, reads.Select(r => r.Index).Distinct().Count());
        Assert.True(reads.Zip(reads.Skip(1)).All(p => p.Second.Index > p.First.Index), "indices rise");
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Read_TenFpsFileAsLiveUnderTenFpsTarget_KeepsEveryFrame()
    {
        // vtest.avi is 10 fps: a 10 fps target must keep every frame of it, whatever the read jitter.
        using var source = (VideoCaptureSource)FrameSources.Open(TestData.Vtest, new CaptureOptions { TargetFps = 10 }, replayAsLive: true);
        using var pool = new FramePool(2);
        var indices = new List<long>();
        for (var i = 0; i < 25; i++)
        {
            using var frame = source.Read(pool, CancellationToken.None)!;
            indices.Add(frame.Index);
        }
        output.WriteLine(string.Join(", ", indices));

        Assert.Equal(Enumerable.Range(0, 25).Select(i => (long)i), indices);
        Assert.Equal(0, source.SkippedFrames);
    }

    [Theory]
    [InlineData(10, 10)] // a 10 fps camera under a 10 fps target: every frame
    [InlineData(30, 10)] // 30 fps: every third
    [InlineData(25, 10)] // 25 fps: 10 of them a second, 2 and 3 frames apart
    [InlineData(5, 10)] // slower than the target: every frame
    public void KeepLive_JitteredArrivals_KeepsTheTargetRate(double sourceFps, double targetFps)
    {
        using var shaping = new FrameShaping(new CaptureOptions { TargetFps = targetFps }, 64, 48, isLive: true);
        var random = new Random(7);
        var kept = 0;
        const int frames = 600;
        for (var i = 0; i < frames; i++)
        {
            // Arrivals jitter by up to ±10 % of the source's interval, as a camera's over a network do.
            var atMs = 1_000_000 + i * 1000 / sourceFps + (random.NextDouble() - 0.5) * 0.2 * 1000 / sourceFps;
            kept += shaping.KeepLive(atMs) ? 1 : 0;
        }
        var expected = frames * Math.Min(1, targetFps / sourceFps);
        output.WriteLine($"{kept} of {frames} kept (expected {expected:0})");
        Assert.InRange(kept, expected * 0.98, expected * 1.02 + 1);
    }

    [Fact]
    public void KeepLive_AfterAPause_StartsTheScheduleAgainWithoutABurst()
    {
        using var shaping = new FrameShaping(new CaptureOptions { TargetFps = 10 }, 64, 48, isLive: true);
        Assert.True(shaping.KeepLive(0));
        Assert.True(shaping.KeepLive(100));
        // Five seconds without frames, then a 30 fps burst: only one frame in each 100 ms is kept.
        var kept = Enumerable.Range(0, 30).Count(i => shaping.KeepLive(5000 + i * 1000.0 / 30));
        Assert.InRange(kept, 10, 11);
    }
}
