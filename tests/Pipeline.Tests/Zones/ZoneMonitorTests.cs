using System.Numerics;
using Edge.Pipeline.Tracking;
using Edge.Pipeline.Zones;

namespace Edge.Pipeline.Tests.Zones;

public sealed class ZoneMonitorTests
{
    private const double FrameMs = 100;

    [Fact]
    public void Update_TrackWalksThroughAZone_OneEnterOneExitWithDwell()
    {
        var monitor = Monitor();
        var events = new List<ZoneEvent>();
        // Along y = 200 from x = 0 to 400 in steps of 10: inside the dock (100..300) from x = 110 to 290.
        for (var t = 0; t <= 40; t++)
        {
            events.AddRange(Observe(monitor, t, (7, new Vector2(10 * t, 200))));
            if (t == 20)
            {
                var dock = monitor.Counters.Zones.Single(z => z.Name == "dock");
                Assert.Equal((1, 1L), (dock.Occupancy, dock.Entries));
                var occupant = Assert.Single(dock.Occupants);
                Assert.Equal((7L, 11L, 1_100.0), (occupant.TrackId, occupant.SinceFrame, occupant.SinceMs));
            }
        }

        Assert.Equal([(ZoneEventKind.Enter, 12L), (ZoneEventKind.Exit, 32L)], events.Select(e => (e.Kind, e.FrameIndex)));
        Assert.All(events, e => Assert.Equal(("dock", 7L, false), (e.Name, e.TrackId, e.TrackEnded)));
        // First firm inside observation x = 110 (frame 11), first firm outside x = 310 (frame 31).
        Assert.Equal(2_000, events[1].DwellMs);
        Assert.Equal(0, monitor.Counters.Zones[0].Occupancy);
    }

    [Fact]
    public void Update_BoxJittersOnTheBorder_NoEventsAndNoCrossings()
    {
        var monitor = Monitor();
        var random = new Random(1);
        var events = new List<ZoneEvent>();
        for (var t = 0; t < 500; t++)
        {
            // ±3 px around the dock's left border (x = 100) and around the door line (x = 500).
            events.AddRange(Observe(monitor, t, (1, new Vector2(100 + (float)random.NextDouble() * 6 - 3, 200)),
                (2, new Vector2(500 + (float)random.NextDouble() * 6 - 3, 300))));
        }
        Assert.Empty(events);
        Assert.Equal(0, monitor.Counters.Lines.Single().Total);
    }

    [Fact]
    public void Update_BoxJittersWideOnTheBorder_DebounceStillHoldsFlaps()
    {
        // ±8 px (beyond the 4 px band) but alternating sides every frame: never two firm observations in a row.
        var monitor = Monitor();
        var events = new List<ZoneEvent>();
        for (var t = 0; t < 200; t++)
        {
            events.AddRange(Observe(monitor, t, (1, new Vector2(t % 2 == 0 ? 92 : 108, 200)), (2, new Vector2(t % 2 == 0 ? 492 : 508, 300))));
        }
        Assert.Empty(events);
    }

    [Fact]
    public void Update_TrackStaysInAZone_OneLoiterEventPerVisit()
    {
        var monitor = Monitor(loiterMs: 3_000);
        var events = new List<ZoneEvent>();
        for (var t = 0; t < 100; t++)
        {
            // In at frame 0, out at 50, back in at 60.
            var inside = t < 50 || t >= 60;
            events.AddRange(Observe(monitor, t, (3, new Vector2(inside ? 200 : 50, 200))));
        }
        var loiter = events.Where(e => e.Kind == ZoneEventKind.Loiter).ToList();
        Assert.Equal(2, loiter.Count);
        Assert.Equal([30L, 90L], loiter.Select(e => e.FrameIndex));
        Assert.All(loiter, e => Assert.Equal(3_000, e.DwellMs!.Value, 3));
    }

    [Fact]
    public void Update_CrossingsOfADirectedLine_CountedOncePerDirectionOnlyOnTheSegment()
    {
        var monitor = Monitor();
        var events = new List<ZoneEvent>();
        // The door runs from (500, 450) up to (500, 150): left of it is the screen's left.
        for (var t = 0; t <= 20; t++)
        {
            events.AddRange(Observe(monitor, t, (1, new Vector2(400 + 10 * t, 300))));
        }
        for (var t = 21; t <= 40; t++)
        {
            events.AddRange(Observe(monitor, t, (1, new Vector2(600 - 10 * (t - 20), 310))));
        }
        // Another track walks past below the segment's end: that is not a crossing.
        for (var t = 41; t <= 60; t++)
        {
            events.AddRange(Observe(monitor, t, (2, new Vector2(400 + 10 * (t - 40), 470))));
        }

        var crossings = events.Where(e => e.Kind == ZoneEventKind.Cross).ToList();
        Assert.Equal([(1L, CrossingDirection.LeftToRight), (1L, CrossingDirection.RightToLeft)], crossings.Select(e => (e.TrackId, e.Direction!.Value)));
        Assert.Equal(new LineCount("door", 1, 1), monitor.Counters.Lines.Single());
    }

    [Fact]
    public void Update_HorizontalLineFromLeftToRight_MovingDownIsLeftToRight()
    {
        // The documented example: a line from (100, 300) to (500, 300).
        var layout = ZoneLayout.Create(new ZoneLayoutOptions { Lines = [new LineOptions { Name = "gate", Points = [[100, 300], [500, 300]] }] }, 640, 480);
        var monitor = new ZoneMonitor(layout);
        for (var t = 0; t < 20; t++)
        {
            Observe(monitor, t, (1, new Vector2(300, 200 + 10 * t)), (2, new Vector2(350, 400 - 10 * t)));
        }
        Assert.Equal(new LineCount("gate", 1, 1), monitor.Counters.Lines.Single());
    }

    [Fact]
    public void Update_TrackEndsInsideAZone_ExitMarkedEndedAndStateForgotten()
    {
        var monitor = Monitor();
        for (var t = 0; t < 10; t++)
        {
            Observe(monitor, t, (5, new Vector2(200, 200)));
        }
        var events = monitor.Update(10, 10 * FrameMs, [], [5]);

        var exit = Assert.Single(events);
        Assert.Equal((ZoneEventKind.Exit, "dock", 5L, true), (exit.Kind, exit.Name, exit.TrackId, exit.TrackEnded));
        Assert.Equal(900, exit.DwellMs);
        Assert.Equal((0, 0), (monitor.Counters.Zones[0].Occupancy, monitor.TrackedCount));
    }

    [Fact]
    public void Update_TrackNeverReportedEnded_ForgottenAfterForgetAfterMs()
    {
        var monitor = Monitor(forgetAfterMs: 2_000);
        Observe(monitor, 0, (1, new Vector2(200, 200)));
        Observe(monitor, 1, (1, new Vector2(200, 200)));
        var events = new List<ZoneEvent>();
        for (var t = 2; t <= 25; t++)
        {
            events.AddRange(Observe(monitor, t, (2, new Vector2(600, 50))));
        }
        Assert.Equal(1L, Assert.Single(events).TrackId);
        Assert.Equal(1, monitor.TrackedCount);
    }

    [Fact]
    public void Update_TrackingUpdate_UsesMatchedTracksBottomCentreAndEndedIds()
    {
        var monitor = Monitor();
        var tracker = new MultiObjectTracker(new TrackingOptions { ConfirmHits = 1, MaxLostMs = 300 });
        var events = new List<ZoneEvent>();
        for (var t = 0; t < 30; t++)
        {
            // A 40×100 box whose bottom centre walks along y = 200 into the dock, then the person vanishes there.
            var detections = t < 20 ? new[] { new Detection(new BoxXyxy(10 * t - 20, 100, 10 * t + 20, 200)) } : [];
            events.AddRange(monitor.Update(tracker.Update(t, t * FrameMs, detections)));
        }
        Assert.Equal([ZoneEventKind.Enter, ZoneEventKind.Exit], events.Select(e => e.Kind));
        Assert.True(events[1].TrackEnded);
    }

    private static ZoneMonitor Monitor(double? loiterMs = null, double forgetAfterMs = 60_000)
    {
        var options = new ZoneLayoutOptions
        {
            Zones = [new ZoneOptions { Name = "dock", Points = [[100, 100], [300, 100], [300, 300], [100, 300]] }],
            Lines = [new LineOptions { Name = "door", Points = [[500, 450], [500, 150]] }],
            Loitering = loiterMs is { } ms ? [new LoiterRule { Zone = "dock", AfterMs = ms }] : [],
            ForgetAfterMs = forgetAfterMs,
        };
        return new ZoneMonitor(ZoneLayout.Create(options, 640, 480));
    }

    private static IReadOnlyList<ZoneEvent> Observe(ZoneMonitor monitor, int t, params (long Id, Vector2 Point)[] observed) =>
        monitor.Update(t, t * FrameMs, observed, []);
}
