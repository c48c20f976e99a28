using Edge.Models;
using Edge.Pipeline.Events;

namespace Edge.Pipeline.Tracking;

/// <summary>A track's activity: the per-track model's label and its probability, from its latest window.</summary>
public readonly record struct TrackActivityLabel(string Label, float Confidence);

/// <summary>A track began an activity (an episode of a label other than the idle ones): an instant, like a zone event.</summary>
public sealed record TrackActivityEvent(long TrackId, string Label, float Confidence, long FrameIndex, double TimestampMs, BoxXyxy Box);

/// <summary>
/// Activity per track: each confirmed track keeps a ring of its last steps (<see cref="TrackFeatures"/>: how the
/// frame model's grid under its box and the box itself changed since its previous observation; observations are kept
/// about the model's <see cref="ModelManifest.StepMs"/> apart, so the model reads any frame rate as it learned), and every
/// <c>windowStride</c> observations a track with a whole window is labelled by the per-track activity model. All the
/// windows due at a frame go to the model in one call (and, with a shared model, in one call with other streams').
/// A track that takes a new label with probability at least <see cref="EventRules.ActivityEnter"/> starts an episode,
/// which ends when its label's probability falls below <see cref="EventRules.ActivityExit"/> or another label takes
/// over; an episode of a label not in <see cref="EventRules.IdleActivities"/> is an event naming the track (one per
/// track and label per <see cref="EventRules.CooldownMs"/>). Memory is bounded by the tracker's
/// <see cref="TrackingOptions.MaxTracks"/>: state goes when its track ends. Does not own the model. One per stream.
/// </summary>
public sealed class TrackActivity
{
    private readonly IWindowModel _model;
    private readonly GridDescription _grid;
    private readonly EventRules _rules;
    private readonly HashSet<string> _idle;
    private readonly int _window;
    private readonly int _stride;
    private readonly int _stepSize;
    private readonly double _stepMs;
    private readonly Dictionary<long, Ring> _tracks = [];
    private readonly float[] _pooled;
    private readonly float[] _box = new float[4];

    public TrackActivity(IWindowModel model, GridDescription grid, EventRules rules)
    {
        if (model.IsAnomaly || model.Manifest.Features != TrackFeatures.Name)
        {
            throw new ArgumentException("the per-track activity model must be an activity model over track steps", nameof(model));
        }
        if (model.FeatureSize != TrackFeatures.Size(grid))
        {
            throw new ModelException(ModelError.Invalid,
                $"{model.Manifest.Name} reads {model.FeatureSize}-value track steps but the frame model's grid makes {TrackFeatures.Size(grid)}-value steps");
        }
        _model = model;
        _grid = grid;
        _rules = rules;
        _idle = new HashSet<string>(rules.IdleActivities, StringComparer.Ordinal);
        _window = model.InputFrames;
        _stride = model.Manifest.WindowStride ?? 1;
        _stepSize = model.FeatureSize;
        _stepMs = model.Manifest.StepMs is > 0 and var stepMs ? stepMs : DefaultStepMs;
        _pooled = new float[grid.Channels];
    }

    /// <summary>The time between steps of a model whose manifest does not say (10 fps material).</summary>
    public const double DefaultStepMs = 100;

    /// <summary>Windows labelled so far, and the model calls they took (all the windows due at one frame make one call).</summary>
    public long Windows { get; private set; }

    public long Calls { get; private set; }

    /// <summary>Tracks with state now (bounded by the tracker's most tracks).</summary>
    public int Tracked => _tracks.Count;

    /// <summary>
    /// Adds this frame's observation of every confirmed track a detection updated, labels the tracks whose window is
    /// due, and returns the present tracks' labels and the episodes that began at this frame.
    /// </summary>
    public async ValueTask<(IReadOnlyDictionary<long, TrackActivityLabel> Labels, IReadOnlyList<TrackActivityEvent> Events)> UpdateAsync(
        FrameResult result, TrackingUpdate update, CancellationToken ct)
    {
        if (result.Grid is not { } grid)
        {
            throw new InvalidOperationException("per-track activity reads the frame's grid, but it was not kept");
        }
        foreach (var (ended, _) in update.Ended)
        {
            _tracks.Remove(ended.Id);
        }
        var due = new List<Ring>();
        foreach (var track in update.Tracks)
        {
            if (track.State != TrackState.Confirmed || !track.Matched)
            {
                continue;
            }
            if (!_tracks.TryGetValue(track.Id, out var state))
            {
                _tracks[track.Id] = state = new Ring(track.Id, _window, _stepSize, _grid.Channels);
            }
            state.Box = track.Box;
            // Observations about a step apart, as in the material: a faster camera skips some (a quarter step early is near enough).
            if (state.LastMs is { } last && result.TimestampMs - last < 0.75 * _stepMs)
            {
                continue;
            }
            RegionPooling.Pool(grid, _grid, result.Width, result.Height,
                (int)MathF.Round(track.Box.X1), (int)MathF.Round(track.Box.Y1), (int)MathF.Round(track.Box.X2), (int)MathF.Round(track.Box.Y2), _pooled);
            (_box[0], _box[1], _box[2], _box[3]) = (track.Box.X1, track.Box.Y1, track.Box.X2, track.Box.Y2);
            state.Push(_pooled, _box, result.TimestampMs, _stepMs);
            if (state.Count >= _window && state.Seen % _stride == 0)
            {
                due.Add(state);
            }
        }
        if (_tracks.Count > update.Tracks.Count)
        {
            // A track the tracker no longer holds (dropped at its most tracks) has no end to report here.
            var held = update.Tracks.Select(t => t.Id).ToHashSet();
            foreach (var id in _tracks.Keys.Where(id => !held.Contains(id)).ToList())
            {
                _tracks.Remove(id);
            }
        }
        var events = new List<TrackActivityEvent>();
        if (due.Count > 0)
        {
            var windows = new float[due.Count * _window * _stepSize];
            for (var i = 0; i < due.Count; i++)
            {
                due[i].Newest(windows.AsSpan(i * _window * _stepSize, _window * _stepSize));
            }
            var scores = await _model.RunAsync(windows, due.Count, ct).ConfigureAwait(false);
            Calls++;
            Windows += due.Count;
            var classes = _model.Manifest.Labels.Length;
            for (var i = 0; i < due.Count; i++)
            {
                var row = scores.AsSpan(i * classes, classes);
                var best = 0;
                for (var c = 1; c < classes; c++)
                {
                    if (row[c] > row[best])
                    {
                        best = c;
                    }
                }
                var state = due[i];
                state.Label = new TrackActivityLabel(_model.Manifest.Labels[best], row[best]);
                if (Episode(state, result.TimestampMs) is { } started)
                {
                    events.Add(new TrackActivityEvent(state.Id, started.Label, started.Confidence, result.Index, result.TimestampMs, state.Box));
                }
            }
        }
        var labels = new Dictionary<long, TrackActivityLabel>();
        foreach (var track in update.Present)
        {
            if (_tracks.TryGetValue(track.Id, out var state) && state.Label is { } label)
            {
                labels[track.Id] = label;
            }
        }
        return (labels, events);
    }

    /// <summary>Follows the track's episodes (hysteresis on the label's probability); returns the label when an event begins.</summary>
    private TrackActivityLabel? Episode(Ring state, double timestampMs)
    {
        var label = state.Label!.Value;
        if (state.Episode is { } open && (open != label.Label || label.Confidence < _rules.ActivityExit))
        {
            state.Episode = null;
        }
        if (state.Episode is not null || label.Confidence < _rules.ActivityEnter)
        {
            return null;
        }
        state.Episode = label.Label;
        if (_idle.Contains(label.Label)
            || (state.LastEventMs.TryGetValue(label.Label, out var last) && timestampMs - last < _rules.CooldownMs))
        {
            return null;
        }
        state.LastEventMs[label.Label] = timestampMs;
        return label;
    }

    /// <summary>One track's ring of steps and its previous observation.</summary>
    private sealed class Ring(long id, int window, int stepSize, int channels)
    {
        private readonly float[] _ring = new float[window * stepSize];
        private readonly float[] _previousPooled = new float[channels];
        private readonly float[] _previousBox = new float[4];

        private int _next;

        public long Id { get; } = id;

        public int Count { get; private set; }

        public long Seen { get; private set; }

        public BoxXyxy Box { get; set; }

        public TrackActivityLabel? Label { get; set; }

        public string? Episode { get; set; }

        public Dictionary<string, double> LastEventMs { get; } = new(StringComparer.Ordinal);

        /// <summary>When the newest observation was made (media time, ms); null before the first.</summary>
        public double? LastMs { get; private set; }

        public void Push(ReadOnlySpan<float> pooled, ReadOnlySpan<float> box, double timestampMs, double stepMs)
        {
            var step = _ring.AsSpan(_next * stepSize, stepSize);
            var first = LastMs is null;
            TrackFeatures.Step(pooled, box, first ? [] : _previousPooled, first ? [] : _previousBox,
                first ? 1 : Math.Max(timestampMs - LastMs!.Value, 1) / stepMs, step);
            pooled.CopyTo(_previousPooled);
            box.CopyTo(_previousBox);
            LastMs = timestampMs;
            _next = (_next + 1) % window;
            Count = Math.Min(Count + 1, window);
            Seen++;
        }

        /// <summary>The newest <c>window</c> steps, oldest first.</summary>
        public void Newest(Span<float> output)
        {
            for (var i = 0; i < window; i++)
            {
                var slot = (_next + i) % window;
                _ring.AsSpan(slot * stepSize, stepSize).CopyTo(output.Slice(i * stepSize, stepSize));
            }
        }
    }
}
