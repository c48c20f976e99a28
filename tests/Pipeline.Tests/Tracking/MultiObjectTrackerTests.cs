using System.ComponentModel.DataAnnotations;
using Edge.Pipeline.Tracking;

namespace Edge.Pipeline.Tests.Tracking;

public sealed class MultiObjectTrackerTests
{
    private const double FrameMs = 100;

    [Fact]
    public void Update_NewObject_ConfirmedAfterConfirmHitsWithIdOneThenTwo()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions { ConfirmHits = 3 });

        Assert.Empty(Step(tracker, 0, Person(100, 100)).Tracks);
        Assert.Empty(Step(tracker, 1, Person(105, 100)).Tracks);
        var third = Step(tracker, 2, Person(110, 100), Person(400, 100));

        var track = Assert.Single(third.Tracks);
        Assert.Equal((1L, TrackState.Confirmed, true), (track.Id, track.State, track.Matched));
        Assert.Equal((0L, 2L, 0.0, 200.0, 3, 3), (track.FirstFrame, track.LastFrame, track.FirstSeenMs, track.LastSeenMs, track.Hits, track.AgeFrames));
        Assert.Equal(200, track.DwellMs);
        Step(tracker, 3, Person(115, 100), Person(405, 100));
        var fifth = Step(tracker, 4, Person(120, 100), Person(410, 100));
        Assert.Equal([1L, 2L], fifth.Tracks.Select(t => t.Id));
        Assert.Equal(2, tracker.Stats.Confirmed);
    }

    [Fact]
    public void Update_TwoPeopleCrossAtDifferentDepths_EachKeepsItsIdThroughTheOcclusion()
    {
        // A far (small) person walks right, a near (large) one walks left; where they overlap, the far one is hidden
        // for four frames (no detection at all).
        var tracker = new MultiObjectTracker(new TrackingOptions());
        var ids = new Dictionary<string, HashSet<long>> { ["far"] = [], ["near"] = [] };
        for (var t = 0; t < 60; t++)
        {
            var far = new BoxXyxy(50 + 10 * t, 150, 50 + 10 * t + 30, 230);
            var near = new BoxXyxy(650 - 10 * t, 140, 650 - 10 * t + 50, 280);
            var hidden = t is >= 28 and < 32;
            var update = Step(tracker, t, hidden ? [new Detection(near)] : [new Detection(far), new Detection(near)]);
            foreach (var track in update.Matched)
            {
                ids[BoxXyxy.Iou(track.Box, far) > BoxXyxy.Iou(track.Box, near) ? "far" : "near"].Add(track.Id);
            }
        }
        Assert.Equal([1L], ids["far"]);
        Assert.Equal([2L], ids["near"]);
        Assert.Equal(0, tracker.Stats.Ended);
    }

    [Fact]
    public void Update_ObjectUnseenBrieflyThenTooLong_SameIdThenEndedAndANewId()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions { MaxLostMs = 1_000 });
        var t = 0;
        for (; t < 10; t++)
        {
            Step(tracker, t, Person(100 + 8 * t, 200));
        }
        // 0.5 s unseen: lost, coasting on its prediction, reported but not matched; present (shown) only for the
        // first frame, within CoastMs (150 ms).
        for (; t < 15; t++)
        {
            var update = Step(tracker, t);
            var lost = Assert.Single(update.Tracks);
            Assert.Equal((1L, TrackState.Lost, false), (lost.Id, lost.State, lost.Matched));
            Assert.InRange(lost.Box.X1, 100 + 8 * t - 12, 100 + 8 * t + 12);
            Assert.Equal(t == 10 ? 1 : 0, update.Present.Count);
        }
        var back = Assert.Single(Step(tracker, t, Person(100 + 8 * t, 200)).Tracks);
        Assert.Equal((1L, TrackState.Confirmed, true), (back.Id, back.State, back.Matched));

        // Then unseen for longer than MaxLostMs: it ends (reported once, at the first frame past 1 s) and the next
        // detection there starts track 2.
        var lastSeen = t;
        TrackingUpdate end;
        do
        {
            end = Step(tracker, ++t);
        }
        while (end.Ended.Count == 0 && t < 100);
        Assert.Equal(lastSeen + 11, t);
        var (ended, reason) = Assert.Single(end.Ended);
        Assert.Equal((1L, TrackEnd.Expired), (ended.Id, reason));
        Assert.Empty(end.Tracks);
        Step(tracker, ++t, Person(300, 200));
        Assert.Equal(2L, Assert.Single(Step(tracker, ++t, Person(305, 200)).Tracks).Id);
        Assert.Equal((2L, 1L, 0L), (tracker.Stats.Confirmed, tracker.Stats.Ended, tracker.Stats.Dropped));
    }

    [Fact]
    public void Update_LowScoreDetections_ExtendTracksButNeverStartThem()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions());
        for (var t = 0; t < 5; t++)
        {
            Step(tracker, t, new Detection(Person(100 + 5 * t, 100).Box, 0.9f), new Detection(Person(500, 100).Box, 0.3f));
        }
        // The person is half hidden: the detector's score falls to 0.3, the track goes on with it.
        for (var t = 5; t < 10; t++)
        {
            var track = Assert.Single(Step(tracker, t, new Detection(Person(100 + 5 * t, 100).Box, 0.3f)).Tracks);
            Assert.Equal((1L, true, 0.3f), (track.Id, track.Matched, track.Score));
        }
        Assert.Equal(1, tracker.Stats.Confirmed);
    }

    [Fact]
    public void Update_PeopleSwapPlacesWithinAFrame_AppearanceKeepsIdentities()
    {
        // Two people stand side by side and, between two frames, trade places (as a detector's boxes can when
        // people pass close): overlap alone would keep the ids on the places; embeddings that tell people apart (a
        // re-identification model, weighted as its option's summary advises) keep them on the people.
        var red = Embedding(0);
        var blue = Embedding(1);
        var left = Person(100, 100).Box;
        var right = Person(118, 100).Box;
        var tracker = new MultiObjectTracker(new TrackingOptions { AppearanceWeight = 0.5 });
        for (var t = 0; t < 5; t++)
        {
            Step(tracker, t, new Detection(left, Embedding: red), new Detection(right, Embedding: blue));
        }
        var swapped = Step(tracker, 5, new Detection(left, Embedding: blue), new Detection(right, Embedding: red));

        Assert.Equal(1L, swapped.Tracks.Single(tr => Nearer(tr.Box, right, left)).Id);
        Assert.Equal(2L, swapped.Tracks.Single(tr => Nearer(tr.Box, left, right)).Id);

        var withoutAppearance = new MultiObjectTracker(new TrackingOptions { AppearanceWeight = 0 });
        for (var t = 0; t < 5; t++)
        {
            Step(withoutAppearance, t, new Detection(left, Embedding: red), new Detection(right, Embedding: blue));
        }
        var byPlace = Step(withoutAppearance, 5, new Detection(left, Embedding: blue), new Detection(right, Embedding: red));
        Assert.Equal(1L, byPlace.Tracks.Single(tr => Nearer(tr.Box, left, right)).Id);
    }

    [Fact]
    public void Update_LostTrackReappearsOffItsPrediction_AppearanceRefindsItInsideTheGate()
    {
        // Walking right, hidden for 0.8 s, reappearing where a slower walk would be: no overlap with the prediction,
        // but inside the filter's gate and with the same appearance.
        var look = Embedding(2);
        var tracker = new MultiObjectTracker(new TrackingOptions());
        for (var t = 0; t < 10; t++)
        {
            Step(tracker, t, new Detection(Person(100 + 10 * t, 200).Box, Embedding: look));
        }
        for (var t = 10; t < 18; t++)
        {
            Step(tracker, t);
        }
        var reappeared = new Detection(Person(100 + 10 * 18 - 45, 200).Box, Embedding: look);
        var track = Assert.Single(Step(tracker, 18, reappeared).Matched);
        Assert.Equal(1L, track.Id);

        var stranger = new MultiObjectTracker(new TrackingOptions());
        for (var t = 0; t < 10; t++)
        {
            Step(stranger, t, new Detection(Person(100 + 10 * t, 200).Box, Embedding: look));
        }
        for (var t = 10; t < 18; t++)
        {
            Step(stranger, t);
        }
        Assert.Empty(Step(stranger, 18, reappeared with { Embedding = Embedding(3) }).Matched);
    }

    [Fact]
    public void Update_MoreObjectsThanMaxTracks_StalestDroppedAndCounted()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions { MaxTracks = 3 });
        for (var t = 0; t < 3; t++)
        {
            Step(tracker, t, Person(0, 0), Person(100, 0), Person(200, 0));
        }
        // The three leave; two new people come: the stalest lost tracks make room, each counted as dropped.
        var update = Step(tracker, 3, Person(400, 300), Person(500, 300));
        Assert.Equal(2, update.Ended.Count);
        Assert.All(update.Ended, e => Assert.Equal(TrackEnd.Dropped, e.Reason));
        Assert.Equal((2L, 3), (tracker.Stats.Dropped, tracker.Stats.Active));
    }

    [Fact]
    public void Update_LongRunWithManyObjects_MemoryStaysBounded()
    {
        var options = new TrackingOptions { MaxTracks = 20, TrailLength = 8 };
        var tracker = new MultiObjectTracker(options);
        var random = new Random(3);
        for (var t = 0; t < 3_000; t++)
        {
            var detections = Enumerable.Range(0, random.Next(0, 30)).Select(_ => Person(random.Next(0, 700), random.Next(0, 500))).ToArray();
            var update = Step(tracker, t, detections);
            Assert.True(tracker.Stats.Active <= options.MaxTracks);
            Assert.All(update.Tracks, tr => Assert.True(tr.Trail.Length <= options.TrailLength));
        }
        Assert.True(tracker.Stats.Dropped > 0);
    }

    [Fact]
    public void Update_SteadyWalk_VelocityInPixelsPerSecondAndTrailOfCentres()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions { TrailLength = 5 });
        TrackingUpdate update = null!;
        for (var t = 0; t < 20; t++)
        {
            update = Step(tracker, t, Person(100 + 6 * t, 100 + 2 * t));
        }
        var track = Assert.Single(update.Tracks);
        Assert.InRange(track.VelocityPxPerS.X, 55, 65);
        Assert.InRange(track.VelocityPxPerS.Y, 15, 25);
        Assert.InRange(track.SpeedPxPerS, 58, 68);
        Assert.Equal(5, track.Trail.Length);
        Assert.All(track.Trail.Zip(track.Trail.Skip(1)), p => Assert.True(p.Second.X > p.First.X));
        Assert.Equal(track.Box.Centre, track.Trail[^1]);
    }

    [Fact]
    public void Update_FrameResultWithEmbeddings_TrackKeepsAUnitLengthAverage()
    {
        var tracker = new MultiObjectTracker(new TrackingOptions { ConfirmHits = 1 });
        var objects = new[] { new DetectedObject([100, 100, 140, 200], "person", 0.9f) { Embedding = [3, 4, 0] } };
        var result = new FrameResult("cam", 7, 700, [], 0, 0) { Objects = objects };

        var track = Assert.Single(tracker.Update(result).Tracks);

        Assert.Equal(("person", 0.9f, 7L), (track.Label, track.Score, track.FirstFrame));
        Assert.Equal(3, track.Embedding!.Length);
        Assert.Equal(0.6f, track.Embedding[0], 5);
        Assert.Equal(0.8f, track.Embedding[1], 5);
    }

    public static TheoryData<Action<TrackingOptions>, string> BadOptions => new()
    {
        { o => o.HighScore = 1.5, "HighScore" },
        { o => o.LowScore = 0.7, "LowScore (0.7) must not be above Tracking:HighScore" },
        { o => o.NewTrackScore = 0.3, "NewTrackScore (0.3) must not be below" },
        { o => o.MaxTracks = 0, "MaxTracks" },
        { o => o.TrailLength = 0, "TrailLength" },
        { o => o.MaxLostMs = -1, "MaxLostMs" },
        { o => o.ConfirmHits = 0, "ConfirmHits" },
        { o => o.CoastMs = 5_000, "CoastMs (5000) must not be above Tracking:MaxLostMs (2000)" },
    };

    [Theory]
    [MemberData(nameof(BadOptions))]
    public void Constructor_BadOptions_ClearError(Action<TrackingOptions> change, string expected)
    {
        var options = new TrackingOptions();
        Assert.Empty(options.Errors());
        change(options);

        var error = Assert.Throws<ValidationException>(() => new MultiObjectTracker(options));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static bool Nearer(BoxXyxy box, BoxXyxy to, BoxXyxy than) => BoxXyxy.Iou(box, to) > BoxXyxy.Iou(box, than);

    private static Detection Person(float x, float y) => new(new BoxXyxy(x, y, x + 40, y + 100));

    private static float[] Embedding(int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, 64).Select(_ => (float)random.NextDouble() - 0.5f)];
    }

    private static TrackingUpdate Step(MultiObjectTracker tracker, int t, params Detection[] detections) =>
        tracker.Update(t, t * FrameMs, detections);
}
