using System.Numerics;
using Edge.Pipeline.Tracking;

namespace Edge.Pipeline.Zones;

public enum ZoneEventKind
{
    Enter,
    Exit,
    Loiter,
    Cross,
}

/// <summary>Which way a track crossed a line; see <see cref="LineOptions"/> for left and right.</summary>
public enum CrossingDirection
{
    LeftToRight,
    RightToLeft,
}

/// <summary>
/// Something a track did in a zone or at a line, stamped with the frame whose observation confirmed it (after the
/// debounce).
/// </summary>
/// <param name="Name">The zone's or line's name.</param>
/// <param name="Direction">Set for <see cref="ZoneEventKind.Cross"/> only.</param>
/// <param name="DwellMs">For exit and loiter: time inside the zone from the observation that entered it.</param>
/// <param name="TrackEnded">For exit: the track ended (or was forgotten) while inside, rather than walking out.</param>
public sealed record ZoneEvent(ZoneEventKind Kind, string Name, long TrackId, CrossingDirection? Direction, long FrameIndex,
    double TimestampMs, double? DwellMs = null, bool TrackEnded = false);

/// <summary>The words zone events are written with in frames.jsonl, event labels and metrics.</summary>
public static class ZoneEventNames
{
    public static string Kind(ZoneEventKind kind) => kind switch
    {
        ZoneEventKind.Enter => "enter",
        ZoneEventKind.Exit => "exit",
        ZoneEventKind.Loiter => "loiter",
        _ => "cross",
    };

    public static string Direction(CrossingDirection direction) => direction == CrossingDirection.LeftToRight ? "left-to-right" : "right-to-left";

    /// <summary>An event's label: <c>enter dock</c>, <c>loiter dock</c>, <c>cross door left-to-right</c>.</summary>
    public static string Label(ZoneEvent e) =>
        e.Direction is { } d ? $"{Kind(e.Kind)} {e.Name} {Direction(d)}" : $"{Kind(e.Kind)} {e.Name}";
}

/// <summary>A track inside a zone now, and since when (the observation that entered it).</summary>
public sealed record ZoneOccupant(long TrackId, long SinceFrame, double SinceMs);

/// <summary>A zone's counters: who is inside now and how many entered since the monitor started.</summary>
public sealed record ZoneCount(string Name, int Occupancy, long Entries, IReadOnlyList<ZoneOccupant> Occupants);

/// <summary>A line's crossings since the monitor started, per direction.</summary>
public sealed record LineCount(string Name, long LeftToRight, long RightToLeft)
{
    public long Total => LeftToRight + RightToLeft;
}

public sealed record ZoneCounters(IReadOnlyList<ZoneCount> Zones, IReadOnlyList<LineCount> Lines);

/// <summary>
/// Judges one stream's tracks against its zones and lines by each box's bottom centre (where a person stands):
/// enter and exit per zone, loitering (one event per visit once the dwell passes the zone's rule), and line crossings
/// per direction, each counted once. Against jitter on a border, a change needs the point to be beyond
/// <see cref="ZoneLayoutOptions.HysteresisPx"/> on the other side for <see cref="ZoneLayoutOptions.DebounceObservations"/>
/// observations in a row; a crossing counts only when the path from the last point firmly on one side to the first
/// firmly on the other meets the segment (not its extension). Tracks that were not observed in a frame (lost, coasting)
/// keep their state; ended tracks leave their zones. State is per observed track, removed when it ends or after
/// <see cref="ZoneLayoutOptions.ForgetAfterMs"/> unobserved, so memory follows the tracker's bound. Per stream; not
/// thread-safe: one caller.
/// </summary>
public sealed class ZoneMonitor
{
    private readonly ZoneLayout _layout;
    private readonly Dictionary<long, Observed> _tracks = [];
    private readonly long[] _entries;
    private readonly long[] _leftToRight;
    private readonly long[] _rightToLeft;

    public ZoneMonitor(ZoneLayout layout)
    {
        _layout = layout;
        _entries = new long[layout.Zones.Count];
        _leftToRight = new long[layout.Lines.Count];
        _rightToLeft = new long[layout.Lines.Count];
    }

    public ZoneLayout Layout => _layout;

    /// <summary>Tracks with zone or line state now.</summary>
    public int TrackedCount => _tracks.Count;

    /// <summary>Judges the tracks a detection updated in this frame and closes the state of those that ended.</summary>
    public IReadOnlyList<ZoneEvent> Update(TrackingUpdate update) =>
        Update(update.FrameIndex, update.TimestampMs,
            update.Matched.Select(t => (t.Id, t.Box.BottomCentre)).ToList(),
            update.Ended.Select(e => e.Track.Id).ToList());

    /// <summary>
    /// Feeds one frame: each observed track's ground point (bottom centre of its box) and the ids of tracks that ended.
    /// Returns the events, in order: exits and entries, loitering, crossings, then the exits of ended tracks.
    /// </summary>
    public IReadOnlyList<ZoneEvent> Update(long frameIndex, double timestampMs, IReadOnlyList<(long TrackId, Vector2 Point)> observed, IReadOnlyList<long> endedTrackIds)
    {
        var events = new List<ZoneEvent>();
        var options = _layout.Options;
        foreach (var (id, point) in observed)
        {
            if (!_tracks.TryGetValue(id, out var state))
            {
                state = new Observed(_layout.Zones.Count, _layout.Lines.Count);
                _tracks[id] = state;
            }
            state.LastSeenMs = timestampMs;
            for (var z = 0; z < _layout.Zones.Count; z++)
            {
                ObserveZone(z, id, point, state.Zones[z], frameIndex, timestampMs, options, events);
            }
            for (var l = 0; l < _layout.Lines.Count; l++)
            {
                ObserveLine(l, id, point, state.Lines[l], frameIndex, timestampMs, options, events);
            }
        }
        foreach (var id in endedTrackIds)
        {
            if (_tracks.Remove(id, out var state))
            {
                Leave(id, state, frameIndex, timestampMs, events);
            }
        }
        // The safety net: forget tracks nobody reported ended.
        List<long>? stale = null;
        foreach (var (id, state) in _tracks)
        {
            if (timestampMs - state.LastSeenMs > options.ForgetAfterMs)
            {
                (stale ??= []).Add(id);
            }
        }
        foreach (var id in stale ?? [])
        {
            _tracks.Remove(id, out var state);
            Leave(id, state!, frameIndex, timestampMs, events);
        }
        return events;
    }

    /// <summary>Occupancy, entries and line counts now.</summary>
    public ZoneCounters Counters
    {
        get
        {
            var zones = new List<ZoneCount>(_layout.Zones.Count);
            for (var z = 0; z < _layout.Zones.Count; z++)
            {
                var occupants = _tracks.Where(t => t.Value.Zones[z].Inside)
                    .Select(t => new ZoneOccupant(t.Key, t.Value.Zones[z].SinceFrame, t.Value.Zones[z].SinceMs))
                    .OrderBy(o => o.SinceMs).ThenBy(o => o.TrackId).ToList();
                zones.Add(new ZoneCount(_layout.Zones[z].Name, occupants.Count, _entries[z], occupants));
            }
            var lines = _layout.Lines.Select((l, i) => new LineCount(l.Name, _leftToRight[i], _rightToLeft[i])).ToList();
            return new ZoneCounters(zones, lines);
        }
    }

    private void ObserveZone(int z, long id, Vector2 point, ZoneState state, long frameIndex, double timestampMs, ZoneLayoutOptions options, List<ZoneEvent> events)
    {
        var zone = _layout.Zones[z];
        var inside = zone.Contains(point);
        var firm = zone.DistanceToBorder(point) >= options.HysteresisPx;
        if (firm && inside != state.Inside)
        {
            if (state.Streak++ == 0)
            {
                (state.StreakFrame, state.StreakMs) = (frameIndex, timestampMs);
            }
            if (state.Streak >= options.DebounceObservations)
            {
                state.Streak = 0;
                if (inside)
                {
                    (state.Inside, state.SinceFrame, state.SinceMs, state.Loitered) = (true, state.StreakFrame, state.StreakMs, false);
                    _entries[z]++;
                    events.Add(new ZoneEvent(ZoneEventKind.Enter, zone.Name, id, null, frameIndex, timestampMs));
                }
                else
                {
                    state.Inside = false;
                    events.Add(new ZoneEvent(ZoneEventKind.Exit, zone.Name, id, null, frameIndex, timestampMs, state.StreakMs - state.SinceMs));
                }
            }
        }
        else if (firm || inside == state.Inside)
        {
            // Back on the side it was on (or deep inside the band on that side): the change was jitter.
            state.Streak = 0;
        }
        if (state.Inside && !state.Loitered && zone.LoiterMs is { } loiter && timestampMs - state.SinceMs >= loiter)
        {
            state.Loitered = true;
            events.Add(new ZoneEvent(ZoneEventKind.Loiter, zone.Name, id, null, frameIndex, timestampMs, timestampMs - state.SinceMs));
        }
    }

    private void ObserveLine(int l, long id, Vector2 point, LineState state, long frameIndex, double timestampMs, ZoneLayoutOptions options, List<ZoneEvent> events)
    {
        var line = _layout.Lines[l];
        var distance = line.SignedDistance(point);
        var side = distance >= options.HysteresisPx ? 1 : distance <= -options.HysteresisPx ? -1 : 0;
        if (side == 0)
        {
            return;
        }
        if (state.Side == 0 || side == state.Side)
        {
            (state.Side, state.LastFirm, state.Streak) = (side, point, 0);
            return;
        }
        if (++state.Streak < options.DebounceObservations)
        {
            return;
        }
        if (line.IsCrossedBy(state.LastFirm, point))
        {
            var direction = side > 0 ? CrossingDirection.LeftToRight : CrossingDirection.RightToLeft;
            if (direction == CrossingDirection.LeftToRight)
            {
                _leftToRight[l]++;
            }
            else
            {
                _rightToLeft[l]++;
            }
            events.Add(new ZoneEvent(ZoneEventKind.Cross, line.Name, id, direction, frameIndex, timestampMs));
        }
        (state.Side, state.LastFirm, state.Streak) = (side, point, 0);
    }

    private void Leave(long id, Observed state, long frameIndex, double timestampMs, List<ZoneEvent> events)
    {
        for (var z = 0; z < _layout.Zones.Count; z++)
        {
            var zone = state.Zones[z];
            if (zone.Inside)
            {
                zone.Inside = false;
                events.Add(new ZoneEvent(ZoneEventKind.Exit, _layout.Zones[z].Name, id, null, frameIndex, timestampMs,
                    state.LastSeenMs - zone.SinceMs, TrackEnded: true));
            }
        }
    }

    private sealed class Observed(int zones, int lines)
    {
        public ZoneState[] Zones { get; } = [.. Enumerable.Range(0, zones).Select(_ => new ZoneState())];

        public LineState[] Lines { get; } = [.. Enumerable.Range(0, lines).Select(_ => new LineState())];

        public double LastSeenMs { get; set; }
    }

    private sealed class ZoneState
    {
        public bool Inside { get; set; }

        public long SinceFrame { get; set; }

        public double SinceMs { get; set; }

        public bool Loitered { get; set; }

        /// <summary>Firm observations in a row on the other side, and when the first of them was.</summary>
        public int Streak { get; set; }

        public long StreakFrame { get; set; }

        public double StreakMs { get; set; }
    }

    private sealed class LineState
    {
        /// <summary>-1 left, +1 right, 0 not yet firmly on either side.</summary>
        public int Side { get; set; }

        /// <summary>The latest point firmly on <see cref="Side"/>.</summary>
        public Vector2 LastFirm { get; set; }

        public int Streak { get; set; }
    }
}
