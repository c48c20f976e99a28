using Edge.Pipeline.Events;

namespace Edge.Pipeline.Tests;

/// <summary>Scripted score sequences at 10 frames per second (frame i at i·100 ms).</summary>
public sealed class HysteresisDetectorTests
{
    public static TheoryData<string, double?[], (long Start, long End, long Peak)[]> Cases => new()
    {
        { "never reaches enter", [0.2, 0.5, 0.9, 0.95, 0.5, 0.1], [] },
        { "one episode", [0.1, 1.2, 1.5, 1.1, 1.3, 1.0, 1.2, 0.5, 0.1], [(1, 6, 2)] },
        { "a dip between exit and enter does not end it", [1.2, 1.1, 0.85, 0.9, 1.4, 1.1, 0.7, 0.1], [(0, 5, 4)] },
        { "a spike shorter than the minimum is dropped", [0.1, 3.0, 2.0, 0.1, 0.1], [] },
        { "a second episode inside the cooldown is ignored", [1.1, 1.2, 1.3, 1.2, 1.1, 1.1, 0.1, 1.5, 1.6, 1.7, 1.6, 1.5, 1.4, 0.1], [(0, 5, 2)] },
        { "no model output closes an episode", [1.1, 1.2, 1.3, 1.2, 1.1, 1.1, null, 0.1], [(0, 5, 2)] },
        { "still open at the end is flushed", [0.1, 0.1, 1.1, 1.2, 1.9, 1.2, 1.3, 1.1], [(2, 7, 4)] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Observe_ScriptedScores_Events(string name, double?[] scores, (long Start, long End, long Peak)[] expected)
    {
        // Enter 1.0, exit 0.8, minimum 400 ms, cooldown 600 ms after the end.
        var detector = new HysteresisDetector("cam", DetectedEvent.AnomalyKind, 1.0, 0.8, 400, 600);
        var events = new List<DetectedEvent>();
        for (var i = 0; i < scores.Length; i++)
        {
            if (detector.Observe(i * 100.0, i, "anomaly", scores[i]) is { } e)
            {
                events.Add(e);
            }
        }
        if (detector.Flush() is { } last)
        {
            events.Add(last);
        }
        Assert.True(expected.Length == events.Count, $"{name}: {events.Count} events");
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i], (events[i].StartFrame, events[i].EndFrame, events[i].PeakFrame));
            Assert.Equal(expected[i].Start * 100.0, events[i].StartMs);
            Assert.Equal(expected[i].End * 100.0, events[i].EndMs);
            Assert.Equal(scores[(int)expected[i].Peak], events[i].PeakScore);
            Assert.Equal(("cam", "anomaly"), (events[i].StreamId, events[i].Kind));
        }
        Assert.Equal(events.Count, events.Select(e => e.Id).Distinct().Count());
    }

    [Fact]
    public void Observe_CooldownOver_NextEpisodeReported()
    {
        var detector = new HysteresisDetector("cam", DetectedEvent.AnomalyKind, 1.0, 0.8, 0, 300);
        double?[] scores = [1.2, 1.2, 0.1, 1.5, 0.1, 0.1, 0.1, 0.1, 1.5, 1.6, 0.1];
        var events = scores.Select((s, i) => detector.Observe(i * 100.0, i, "anomaly", s)).OfType<DetectedEvent>().ToList();
        // Episode 0–1 ends at 100 ms; cooldown to 400 ms blocks the spike at frame 3; frame 8 starts a new one.
        Assert.Equal([(0L, 1L), (8L, 9L)], events.Select(e => (e.StartFrame, e.EndFrame)));
    }

    [Fact]
    public void Observe_ActivityLabelChanges_EndsTheEpisode()
    {
        var detector = new HysteresisDetector("cam", DetectedEvent.ActivityKind, 0.8, 0.6, 0, 0);
        string[] labels = ["walk", "walk", "walk", "run", "run"];
        var events = labels.Select((l, i) => detector.Observe(i * 100.0, i, l, 0.9)).OfType<DetectedEvent>().ToList();
        events.AddRange(detector.Flush() is { } last ? [last] : []);
        Assert.Equal([("walk", 0L, 2L), ("run", 3L, 4L)], events.Select(e => (e.Label, e.StartFrame, e.EndFrame)));
    }

    [Fact]
    public void Observe_AnomalyThatNeverEnds_EventsOfTheMaximumDurationOneAfterAnother()
    {
        // 10 fps for 10 minutes, always above the enter threshold; at most 60 s per event, a 5 s cooldown that must
        // not apply between the parts of one episode.
        var detector = new HysteresisDetector("cam", DetectedEvent.AnomalyKind, 1.0, 0.8, 500, 5_000, maxDurationMs: 60_000);
        var events = new List<DetectedEvent>();
        for (var i = 0; i < 6000; i++)
        {
            if (detector.Observe(i * 100.0, i, "anomaly", 2.0 + (i % 7 * 0.1)) is { } e)
            {
                events.Add(e);
            }
        }
        Assert.Equal(9, events.Count); // the tenth part is still open
        Assert.All(events, e => Assert.InRange(e.DurationMs, 59_900, 60_000));
        // Each part starts with the frame after the last one of the part before: no frame is lost or counted twice.
        Assert.Equal(0, events[0].StartFrame);
        Assert.All(events.Zip(events.Skip(1)), p => Assert.Equal(p.First.EndFrame + 1, p.Second.StartFrame));
        Assert.All(events, e => Assert.InRange(e.PeakFrame, e.StartFrame, e.EndFrame));
        var last = detector.Flush();
        Assert.NotNull(last);
        Assert.Equal((events[^1].EndFrame + 1, 5999L), (last.StartFrame, last.EndFrame));
    }
}
