using Edge.Models;
using Edge.Pipeline.Events;
using Edge.Pipeline.Tracking;

namespace Edge.Pipeline.Tests.Tracking;

/// <summary>
/// Activity per track between the real tracker and a window model that records what it is given: the steps of each
/// track, the windows batched per frame, the episodes that become events, and state that goes with its track.
/// </summary>
public sealed class TrackActivityTests
{
    private static readonly GridDescription s_grid = new("grid", Channels: 3, Height: 4, Width: 4);
    private const int FrameWidth = 400;
    private const int FrameHeight = 400;

    [Fact]
    public void Step_IsTheGridAndBoxChangeRelativeToTheBoxSize_PerFrameElapsed_ThenTheAspect()
    {
        var step = new float[3 + TrackFeatures.BoxValues];
        TrackFeatures.Step([2, 4, 0], [10, 20, 30, 60], [1, 1, 1], [0, 20, 20, 60], gap: 2, step);
        // Pooled change / 2 frames; centre moved 10 px right at a mean height of 40 over 2 frames; same size; aspect 20/40.
        Assert.Equal([0.5f, 1.5f, -0.5f, 0.125f, 0f, 0f, 0f, 0.5f], step);

        TrackFeatures.Step([2, 4, 0], [0, 0, 60, 30], [2, 4, 0], [0, 0, 30, 60], gap: 1, step);
        // A standing person lying down: the same place of the left edge, height 60 → 30, aspect 0.5 → 2.
        Assert.Equal(0f, step[0]);
        Assert.Equal(15f / 45f, step[3], 5);
        Assert.Equal(-15f / 45f, step[4], 5);
        Assert.Equal(MathF.Log(0.5f), step[5], 5);
        Assert.Equal(1.5f, step[6], 5);
        Assert.Equal(2f, step[7], 5);

        TrackFeatures.Step([2, 4, 0], [0, 0, 60, 30], [], [], gap: 1, step);
        Assert.Equal([0f, 0f, 0f, 0f, 0f, 0f, 0f, 2f], step); // a track's first observation: no change yet
    }

    [Fact]
    public async Task Update_EveryDueWindowOfEveryTrackInOneCall_EachWindowThatTracksOwnLastSteps()
    {
        var model = new RecordingModel(window: 4, stride: 2, (_, _) => [0.1f, 0.8f, 0.1f]);
        var activity = new TrackActivity(model, s_grid, new EventRules());
        var tracker = new MultiObjectTracker(new TrackingOptions());
        var expected = new List<float[]>();
        var history = new Dictionary<long, List<(float[] Pooled, float[] Box, long Frame)>>();
        for (var frame = 0; frame < 14; frame++)
        {
            // Three people walking right at their own speed, far enough apart never to be confused.
            var detections = new[] { 0, 1, 2 }.Select(p => new Detection(new BoxXyxy(10 + frame * (p + 1) * 3, 20 + p * 130, 50 + frame * (p + 1) * 3, 110 + p * 130))).ToList();
            var update = tracker.Update(frame, frame * 100.0, detections);
            var grid = Grid(frame);
            var due = 0;
            foreach (var track in update.Tracks.Where(t => t.State == TrackState.Confirmed && t.Matched))
            {
                var pooled = new float[s_grid.Channels];
                RegionPooling.Pool(grid, s_grid, FrameWidth, FrameHeight, (int)MathF.Round(track.Box.X1), (int)MathF.Round(track.Box.Y1),
                    (int)MathF.Round(track.Box.X2), (int)MathF.Round(track.Box.Y2), pooled);
                var steps = history.TryGetValue(track.Id, out var h) ? h : history[track.Id] = [];
                steps.Add((pooled, [track.Box.X1, track.Box.Y1, track.Box.X2, track.Box.Y2], frame));
                if (steps.Count >= 4 && steps.Count % 2 == 0)
                {
                    expected.Add(Window(steps[^4..], steps.Count > 4 ? steps[^5] : null));
                    due++;
                }
            }
            var calls = model.Calls.Count;
            var (labels, _) = await activity.UpdateAsync(new FrameResult("cam", frame, frame * 100.0, [], 0, 0) { Grid = grid, Width = FrameWidth, Height = FrameHeight },
                update, CancellationToken.None);
            Assert.Equal(due > 0 ? calls + 1 : calls, model.Calls.Count); // one call for all the tracks due at a frame
            if (due > 0)
            {
                Assert.Equal(due, model.Calls[^1].Count);
                Assert.All(update.Present, t => Assert.Equal(new TrackActivityLabel("b", 0.8f), labels[t.Id]));
            }
        }
        Assert.Equal(3, history.Count);
        // Confirmed at the second frame: 13 observations each, windows after the 4th, 6th, ..., 12th: 5 per track.
        Assert.Equal(15, expected.Count);
        Assert.Equal(15, activity.Windows);
        var given = model.Calls.SelectMany(c => Enumerable.Range(0, c.Count).Select(i => c.Windows.AsSpan(i * 4 * model.FeatureSize, 4 * model.FeatureSize).ToArray())).ToList();
        Assert.Equal(expected.Count, given.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i], given[i]);
        }
    }

    [Fact]
    public async Task Episodes_ANewNonIdleLabelIsAnEventNamingTheTrack_OncePerCooldown()
    {
        // One person; the model's answers, call by call (a call every 2 frames once the window is whole).
        float[][] answers =
        [
            [0.9f, 0.05f, 0.05f], // a: event
            [0.9f, 0.05f, 0.05f], // a again: same episode
            [0.5f, 0.25f, 0.25f], // below the exit: the episode ends, not sure enough for a new one
            [0.9f, 0.05f, 0.05f], // a: a new episode, but within a's cooldown
            [0.05f, 0.05f, 0.9f], // c: idle, never an event
            [0.05f, 0.9f, 0.05f], // b: event
            [0.05f, 0.05f, 0.9f],
            [0.05f, 0.05f, 0.9f],
            [0.9f, 0.05f, 0.05f], // a: event, the cooldown is over
        ];
        var model = new RecordingModel(window: 4, stride: 2, (call, _) => answers[Math.Min(call, answers.Length - 1)]);
        var activity = new TrackActivity(model, s_grid, new EventRules { ActivityEnter = 0.8, ActivityExit = 0.6, IdleActivities = ["c"], CooldownMs = 1_500 });
        var tracker = new MultiObjectTracker(new TrackingOptions());
        var events = new List<TrackActivityEvent>();
        for (var frame = 0; frame < 22; frame++)
        {
            var update = tracker.Update(frame, frame * 100.0, [new Detection(new BoxXyxy(100 + frame, 100, 150 + frame, 200))]);
            var (_, started) = await activity.UpdateAsync(new FrameResult("cam", frame, frame * 100.0, [], 0, 0) { Grid = Grid(frame), Width = FrameWidth, Height = FrameHeight },
                update, CancellationToken.None);
            events.AddRange(started);
        }
        Assert.Equal(9, model.Calls.Count);
        Assert.Equal([("a", 4L), ("b", 14L), ("a", 20L)], events.Select(e => (e.Label, e.FrameIndex)));
        Assert.All(events, e => Assert.Equal(1, e.TrackId));
        Assert.All(events, e => Assert.InRange(e.Box.X1, 100, 125));
    }

    [Fact]
    public async Task State_GoesWithItsTrack()
    {
        var model = new RecordingModel(window: 4, stride: 1, (_, _) => [1f, 0f, 0f]);
        var activity = new TrackActivity(model, s_grid, new EventRules());
        var tracker = new MultiObjectTracker(new TrackingOptions { MaxLostMs = 500 });
        for (var frame = 0; frame < 30; frame++)
        {
            // Two people for 10 frames, then nobody.
            IReadOnlyList<Detection> detections = frame < 10
                ? [new Detection(new BoxXyxy(10, 10, 60, 110)), new Detection(new BoxXyxy(200, 10, 250, 110))]
                : [];
            var update = tracker.Update(frame, frame * 100.0, detections);
            var (labels, _) = await activity.UpdateAsync(new FrameResult("cam", frame, frame * 100.0, [], 0, 0) { Grid = Grid(frame), Width = FrameWidth, Height = FrameHeight },
                update, CancellationToken.None);
            if (frame == 9)
            {
                Assert.Equal(2, activity.Tracked);
                Assert.Equal(2, labels.Count);
            }
            if (frame >= 16)
            {
                Assert.Equal(0, activity.Tracked);
                Assert.Empty(labels);
            }
        }
    }

    [Fact]
    public async Task Observations_AStepApartWhateverTheFrameRate_TheSameMotionReadsTheSame()
    {
        // One person walking 50 px/s, seen at 10 fps (the model's 100 ms steps) and at 30 fps.
        async Task<(List<(float[] Windows, int Count)> Calls, int Frames)> RunAt(double fps)
        {
            var model = new RecordingModel(window: 4, stride: 1, (_, _) => [1f, 0f, 0f]);
            var activity = new TrackActivity(model, s_grid, new EventRules());
            var tracker = new MultiObjectTracker(new TrackingOptions());
            var frames = (int)(4 * fps);
            for (var frame = 0; frame < frames; frame++)
            {
                var ms = frame * 1000 / fps;
                var x = 10 + 50 * (float)ms / 1000;
                var update = tracker.Update(frame, ms, [new Detection(new BoxXyxy(x, 100, x + 50, 200))]);
                await activity.UpdateAsync(new FrameResult("cam", frame, ms, [], 0, 0) { Grid = Grid(0), Width = FrameWidth, Height = FrameHeight },
                    update, CancellationToken.None);
            }
            return (model.Calls, frames);
        }
        var (slow, slowFrames) = await RunAt(10);
        var (fast, fastFrames) = await RunAt(30);

        Assert.Equal(3 * slowFrames, fastFrames);
        Assert.InRange(fast.Count, slow.Count - 1, slow.Count + 1); // a window a step, not a window a frame
        var size = TrackFeatures.Size(s_grid);
        var shift = s_grid.Channels; // the centre's x shift per step over the box height: 5 px / 100 px
        Assert.Equal(0.05f, slow[^1].Windows[3 * size + shift], 0.01f);
        Assert.Equal(0.05f, fast[^1].Windows[3 * size + shift], 0.01f);
    }

    [Fact]
    public void Model_ThatDoesNotReadTrackSteps_IsRefused()
    {
        var frameModel = new RecordingModel(window: 4, stride: 1, (_, _) => [1f, 0f, 0f], features: null);
        Assert.Throws<ArgumentException>(() => new TrackActivity(frameModel, s_grid, new EventRules()));
        var otherGrid = new RecordingModel(window: 4, stride: 1, (_, _) => [1f, 0f, 0f], featureSize: 256 + TrackFeatures.BoxValues);
        var error = Assert.Throws<ModelException>(() => new TrackActivity(otherGrid, s_grid, new EventRules()));
        Assert.Contains("261-value track steps", error.Message, StringComparison.Ordinal);
    }

    /// <summary>A 4 × 4 grid of 3 channels whose values change with the frame and the cell.</summary>
    private static float[] Grid(int frame) =>
        [.. Enumerable.Range(0, s_grid.Size).Select(i => MathF.Sin(frame * 0.7f + i * 0.37f) + (i % 3))];

    /// <summary>The window of the last four observations, each step from the one before it (the first has none when the track had no earlier one).</summary>
    private static float[] Window(List<(float[] Pooled, float[] Box, long Frame)> last, (float[] Pooled, float[] Box, long Frame)? before)
    {
        var size = TrackFeatures.Size(s_grid);
        var window = new float[4 * size];
        for (var k = 0; k < 4; k++)
        {
            var previous = k > 0 ? last[k - 1] : before;
            TrackFeatures.Step(last[k].Pooled, last[k].Box, previous?.Pooled ?? [], previous?.Box ?? [],
                previous is { } p ? (int)(last[k].Frame - p.Frame) : 1, window.AsSpan(k * size, size));
        }
        return window;
    }

    private sealed class RecordingModel(int window, int stride, Func<int, int, float[]> answer, string? features = TrackFeatures.Name, int? featureSize = null) : IWindowModel
    {
        public List<(float[] Windows, int Count)> Calls { get; } = [];

        public ModelManifest Manifest { get; } = new()
        {
            Name = "recording",
            Kind = ModelManifest.ActivityKind,
            InputName = "windows",
            InputWidth = featureSize ?? TrackFeatures.Size(s_grid),
            InputHeight = window,
            InputLayout = "NTF",
            ChannelOrder = "-",
            InputElementType = "float32",
            OutputNames = ["scores"],
            Labels = ["a", "b", "c"],
            WindowLength = window,
            WindowStride = stride,
            FeatureSize = featureSize ?? TrackFeatures.Size(s_grid),
            Features = features,
        };

        public bool IsAnomaly => false;

        public int InputFrames => window;

        public int FeatureSize => Manifest.FeatureSize!.Value;

        public ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct)
        {
            var call = Calls.Count;
            Calls.Add(([.. windows], count));
            return ValueTask.FromResult<float[]>([.. Enumerable.Range(0, count).SelectMany(i => answer(call, i))]);
        }
    }
}
