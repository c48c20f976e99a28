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
}
