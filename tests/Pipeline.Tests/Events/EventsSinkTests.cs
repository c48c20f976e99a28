using Edge.Capture;
using Edge.Pipeline.Events;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Pipeline.Tests.Events;

/// <summary>The events sink on real frames of vtest.avi: long episodes are cut at the maximum duration, each part stored whole.</summary>
public sealed class EventsSinkTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public async Task WriteAsync_AnomalyThatNeverEnds_StoredAsEventsOfTheMaximumDurationWithBoundedClips()
    {
        // 10 fps, a score above the threshold on every frame for 15 s; events at most 4 s long, 5 frames of pre- and
        // post-roll each.
        var rules = new EventRules { MaxDurationMs = 4_000, PreRollFrames = 5, PostRollFrames = 5, MinDurationMs = 500 };
        using var store = new SqliteEventStore(Path.Combine(_folder, SqliteEventStore.FileName));
        var stored = new List<DetectedEvent>();
        var sink = new EventsSink(_folder, store, rules, fps: 10, ownsStore: false, "cam.events.jsonl", keepEvents: false, dailyJsonLines: true);
        sink.EventStored += stored.Add;
        using var pool = new FramePool(2);
        var index = 0;
        while (index < 150)
        {
            using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions());
            while (index < 150 && source.Read(pool, CancellationToken.None) is { } frame)
            {
                frame.Stamp("cam", index, index * 100.0);
                using (frame)
                {
                    await sink.WriteAsync(new FrameResult("cam", index, index * 100.0, [], 0, 0)
                    {
                        Pixels = frame,
                        Analysis = new FrameAnalysis(AnomalyScore: 3.0f),
                    }, CancellationToken.None);
                }
                index++;
                if (index == 100)
                {
                    // While the anomaly goes on, the parts that ended are already stored and delivered.
                    Assert.Equal(2, store.Query().Count);
                }
            }
        }
        await sink.CompleteAsync(CancellationToken.None);

        // Frames 0–40, 41–81, 82–122 are parts of 4 s; 123–149 is what was open at the end (flushed).
        var events = store.Query();
        Assert.Equal(events.Select(e => e.Id), stored.Select(e => e.Id));
        Assert.Equal([(0L, 40L), (41L, 81L), (82L, 122L), (123L, 149L)], events.Select(e => (e.StartFrame, e.EndFrame)));
        Assert.All(events.SkipLast(1), e => Assert.Equal(4_000, e.DurationMs));
        foreach (var e in events)
        {
            Assert.True(File.Exists(Path.Combine(_folder, e.Snapshot!)), $"snapshot of {e.Id}");
            using var clip = new VideoCapture(Path.Combine(_folder, e.Clip!));
            using var image = new Mat();
            var frames = 0;
            while (clip.Read(image))
            {
                frames++;
            }
            // Pre-roll (none before frame 0), the event, post-roll (cut short at the end of the stream).
            var expected = Math.Min(5, e.StartFrame) + (e.EndFrame - e.StartFrame + 1) + Math.Min(5, 149 - e.EndFrame);
            Assert.Equal(expected, frames);
        }
        Assert.Empty(Directory.GetFiles(_folder, EventClips.StagingPattern));
        var jsonLines = Assert.Single(Directory.GetFiles(_folder, "*.jsonl"));
        Assert.Equal(EventsSink.DailyName("cam.events.jsonl", DateTime.UtcNow), Path.GetFileName(jsonLines));
        Assert.Equal(4, File.ReadAllLines(jsonLines).Length);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public async Task WriteAsync_AnomalyThatStaysInOnePlace_EventRegionIsThatPlaceNotThePeakFramesHottest()
    {
        // 14 × 14 cell maps on 768 × 576 frames. Frames 5–20: a left object keeps cells (6–8, 8–10) at 1.5 while a
        // passer-by crosses row 12, one cell a frame at 1.2, and is the hottest place (4.0) in the peak frame, 12.
        // Frames 30–45: only a passer-by, so no place stays hot and the event keeps its peak frame's region.
        using var store = new SqliteEventStore(Path.Combine(_folder, SqliteEventStore.FileName));
        var sink = new EventsSink(_folder, store, new EventRules { CooldownMs = 0 }, fps: 10, ownsStore: false, "cam.events.jsonl", keepEvents: false, dailyJsonLines: true);
        var events = new List<DetectedEvent>(); // as delivered and written to the JSON lines (the store keeps no region)
        sink.EventStored += events.Add;
        using var pool = new FramePool(2);
        using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions());
        for (var index = 0; index < 50 && source.Read(pool, CancellationToken.None) is { } frame; index++)
        {
            frame.Stamp("cam", index, index * 100.0);
            var cells = new float[14 * 14];
            float? score = 0.2f;
            if (index is >= 5 and <= 20)
            {
                for (var r = 6; r <= 8; r++)
                {
                    for (var c = 8; c <= 10; c++)
                    {
                        cells[r * 14 + c] = 1.5f;
                    }
                }
                cells[12 * 14 + index % 14] = index == 12 ? 4.0f : 1.2f;
                score = index == 12 ? 3.0f : 2.0f;
            }
            else if (index is >= 30 and <= 45)
            {
                cells[12 * 14 + index % 14] = index == 38 ? 4.0f : 1.2f;
                score = index == 38 ? 3.0f : 2.0f;
            }
            using (frame)
            {
                await sink.WriteAsync(new FrameResult("cam", index, index * 100.0, [], 0, 0)
                {
                    Pixels = frame,
                    Width = 768,
                    Height = 576,
                    Analysis = new FrameAnalysis(AnomalyScore: score, AnomalyCells: cells, CellRows: 14, CellColumns: 14),
                }, CancellationToken.None);
            }
        }
        await sink.CompleteAsync(CancellationToken.None);

        Assert.Equal([(5L, 20L, 12L), (30L, 45L, 38L)], events.Select(e => (e.StartFrame, e.EndFrame, e.PeakFrame)));
        // Cells 8–10 of 14 across 768 pixels, 6–8 of 14 down 576: the object's place, not row 12's passer-by.
        var (left, top, right, bottom) = (8 * 768 / 14, 6 * 576 / 14, 11 * 768 / 14, 9 * 576 / 14);
        Assert.Equal([left, top, right, bottom], events[0].Region!, new ToleranceComparer(2));
        // No place stayed hot: the region is the peak frame's hottest, the passer-by's cell (row 12, column 38 % 14 = 10).
        Assert.Equal([10 * 768 / 14, 12 * 576 / 14, 11 * 768 / 14, 13 * 576 / 14], events[1].Region!, new ToleranceComparer(2));
        Assert.Equal(0, pool.Outstanding);
    }

    private sealed class ToleranceComparer(int pixels) : IEqualityComparer<int>
    {
        public bool Equals(int x, int y) => Math.Abs(x - y) <= pixels;

        public int GetHashCode(int obj) => 0;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
