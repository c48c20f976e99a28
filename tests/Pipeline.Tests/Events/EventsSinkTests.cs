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

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
