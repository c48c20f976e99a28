using System.Numerics;
using Edge.Models;

namespace Edge.Pipeline.Tracking;

/// <summary>
/// Tracks the objects of one stream across frames and gives each a stable identity: a constant-velocity Kalman filter
/// per track (<see cref="KalmanBoxFilter"/>) and, each frame, optimal assignment (<see cref="LinearAssignment"/>) in
/// three passes as ByteTrack does them:
/// <list type="number">
/// <item>confirmed and lost tracks against high-score detections, the cost mixing overlap with the prediction and,
/// when both sides carry an embedding, cosine distance of appearance (which may also re-find a lost track whose
/// prediction drifted off, inside the filter's χ² gate);</item>
/// <item>confirmed tracks still unmatched against low-score detections, by overlap alone (a half-hidden person is
/// detected weakly, and its crop's appearance is not its own);</item>
/// <item>tentative tracks against the high-score detections left, by overlap; what is left then starts new tentative
/// tracks.</item>
/// </list>
/// A track is confirmed (and gets the next id) after <see cref="TrackingOptions.ConfirmHits"/> matches in a row, a
/// tentative track that misses is forgotten, and a confirmed track unseen for <see cref="TrackingOptions.MaxLostMs"/>
/// ends. Memory is bounded by <see cref="TrackingOptions.MaxTracks"/> tracks, each with a fixed ring of trail points and
/// one embedding. Per-stream state; not thread-safe: one caller (the pipeline's tracking stage), like
/// <see cref="MotionDetector"/>. Holds no native memory.
/// </summary>
public sealed class MultiObjectTracker
{
    // Above this overlap two detections share pixels: neither crop shows one object alone, so neither updates appearance.
    private const float CrowdedIou = 0.3f;

    private readonly TrackingOptions _options;
    private readonly List<Track> _tracks = [];
    private long _nextId = 1;
    private long _frames;
    private long _confirmed;
    private long _ended;
    private long _dropped;
    private double? _lastTimestampMs;

    public MultiObjectTracker(TrackingOptions options)
    {
        options.Validate();
        _options = options;
    }

    public TrackerStats Stats => new(_frames, _confirmed, _ended, _dropped, _tracks.Count);

    /// <summary>Tracks the objects the object stage found in one frame (their crop embeddings included).</summary>
    public TrackingUpdate Update(FrameResult result) =>
        Update(result.Index, result.TimestampMs, result.Objects.Select(Detection.From).ToList());

    /// <summary>
    /// Feeds one frame's detections (frames in order; timestamps in milliseconds, not decreasing) and returns the
    /// tracks after it.
    /// </summary>
    public TrackingUpdate Update(long frameIndex, double timestampMs, IReadOnlyList<Detection> detections)
    {
        var dt = _lastTimestampMs is { } last ? Math.Max(0, timestampMs - last) / 1000 : 0;
        _lastTimestampMs = timestampMs;
        _frames++;
        foreach (var track in _tracks)
        {
            track.Filter.Predict(dt);
            track.Age++;
        }

        var high = new List<int>();
        var low = new List<int>();
        for (var i = 0; i < detections.Count; i++)
        {
            var d = detections[i];
            if (!(d.Box.Width >= 1 && d.Box.Height >= 1))
            {
                continue;
            }
            if (d.Score >= _options.HighScore)
            {
                high.Add(i);
            }
            else if (d.Score >= _options.LowScore)
            {
                low.Add(i);
            }
        }
        var matchedTrack = new bool[_tracks.Count];
        var takenDetection = new bool[detections.Count];
        var crowded = Crowded(detections);

        // 1. Confirmed and lost tracks, high-score detections: overlap and appearance.
        var pool = Indices(t => t.State != TrackState.Tentative);
        Associate(pool, high, detections, matchedTrack, takenDetection, (t, d) => FirstPassCost(t, detections[d]));

        // 2. Confirmed tracks seen last frame that are still unmatched, low-score detections: overlap only.
        var recent = pool.Where(i => !matchedTrack[i] && _tracks[i].State == TrackState.Confirmed).ToList();
        Associate(recent, low, detections, matchedTrack, takenDetection, (t, d) => OverlapCost(t, detections[d], _options.LowScoreMinIou));

        // 3. Tentative tracks, high-score detections left: overlap only.
        var tentative = Indices(t => t.State == TrackState.Tentative);
        var left = high.Where(d => !takenDetection[d]).ToList();
        Associate(tentative, left, detections, matchedTrack, takenDetection, (t, d) => OverlapCost(t, detections[d], _options.MinIou));

        var ended = new List<(TrackedObject, TrackEnd)>();
        for (var i = _tracks.Count - 1; i >= 0; i--)
        {
            var track = _tracks[i];
            if (matchedTrack[i])
            {
                continue;
            }
            track.Matched = false;
            track.HitStreak = 0;
            if (track.State == TrackState.Tentative)
            {
                _tracks.RemoveAt(i);
            }
            else if (timestampMs - track.LastSeenMs > _options.MaxLostMs)
            {
                ended.Add((track.Snapshot(), TrackEnd.Expired));
                _ended++;
                _tracks.RemoveAt(i);
            }
            else
            {
                track.State = TrackState.Lost;
            }
        }

        foreach (var d in high)
        {
            if (!takenDetection[d] && detections[d].Score >= _options.NewTrackScore)
            {
                if (_tracks.Count >= _options.MaxTracks)
                {
                    DropStalest(ended);
                }
                var track = new Track(detections[d], frameIndex, timestampMs, _options.TrailLength);
                _tracks.Add(track);
                if (_options.ConfirmHits <= 1)
                {
                    Confirm(track);
                }
            }
        }

        var tracks = _tracks.Where(t => t.State != TrackState.Tentative).OrderBy(t => t.Id).Select(t => t.Snapshot()).ToList();
        var present = tracks.Where(t => t.Matched || timestampMs - t.LastSeenMs <= _options.CoastMs).ToList();
        return new TrackingUpdate(frameIndex, timestampMs, tracks, ended, present);

        // Solves one pass and applies its matches.
        void Associate(List<int> trackIndices, List<int> detectionIndices, IReadOnlyList<Detection> all, bool[] matched, bool[] taken, Func<Track, int, double> cost)
        {
            if (trackIndices.Count == 0 || detectionIndices.Count == 0)
            {
                return;
            }
            var costs = new double[trackIndices.Count, detectionIndices.Count];
            for (var r = 0; r < trackIndices.Count; r++)
            {
                for (var c = 0; c < detectionIndices.Count; c++)
                {
                    costs[r, c] = taken[detectionIndices[c]] ? double.PositiveInfinity : cost(_tracks[trackIndices[r]], detectionIndices[c]);
                }
            }
            var assignment = LinearAssignment.Solve(costs);
            for (var r = 0; r < assignment.Length; r++)
            {
                if (assignment[r] < 0)
                {
                    continue;
                }
                var d = detectionIndices[assignment[r]];
                matched[trackIndices[r]] = true;
                taken[d] = true;
                var track = _tracks[trackIndices[r]];
                track.Hit(all[d], frameIndex, timestampMs, _options.EmbeddingMomentum, updateAppearance: !crowded[d]);
                if (track.State == TrackState.Lost)
                {
                    track.State = TrackState.Confirmed;
                }
                else if (track.State == TrackState.Tentative && track.HitStreak >= _options.ConfirmHits)
                {
                    Confirm(track);
                }
            }
        }
    }

    private List<int> Indices(Func<Track, bool> which)
    {
        var list = new List<int>();
        for (var i = 0; i < _tracks.Count; i++)
        {
            if (which(_tracks[i]))
            {
                list.Add(i);
            }
        }
        return list;
    }

    private double FirstPassCost(Track track, in Detection detection)
    {
        var iou = BoxXyxy.Iou(track.Filter.Box, detection.Box);
        var overlapOk = iou >= _options.MinIou;
        if (_options.AppearanceWeight > 0 && track.Embedding is { } known && detection.Embedding is { } seen && seen.Length == known.Length)
        {
            var distance = CosineDistance(known, seen);
            // Without overlap, appearance alone may match, but only where the person can be.
            if (!overlapOk && !(distance <= _options.MaxAppearanceDistance
                && (track.Filter.MahalanobisSquared(detection.Box) <= KalmanBoxFilter.Chi2Gate95 || WithinReach(track, detection.Box))))
            {
                return double.PositiveInfinity;
            }
            return (1 - _options.AppearanceWeight) * (1 - iou) + _options.AppearanceWeight * distance;
        }
        return overlapOk ? 1 - iou : double.PositiveInfinity;
    }

    /// <summary>
    /// Whether a person last seen as the track's latest detection could be at <paramref name="box"/> by now, whatever
    /// the filter predicted: within half a height plus two heights per second unseen (a run) of where they were last
    /// seen, at a similar size. It lets appearance re-find someone who turned round or stopped while hidden, where the
    /// constant-velocity prediction (and its gate) went on without them.
    /// </summary>
    private bool WithinReach(Track track, in BoxXyxy box)
    {
        var last = track.LastBox;
        var ratio = box.Height / Math.Max(1, last.Height);
        if (ratio is < 0.67f or > 1.5f)
        {
            return false;
        }
        var unseenS = Math.Max(0, (_lastTimestampMs ?? 0) - track.LastSeenMs) / 1000;
        var reach = last.Height * (0.5 + 2 * unseenS);
        return (box.Centre - last.Centre).Length() <= reach;
    }

    private static double OverlapCost(Track track, in Detection detection, double minIou)
    {
        var iou = BoxXyxy.Iou(track.Filter.Box, detection.Box);
        return iou >= minIou ? 1 - iou : double.PositiveInfinity;
    }

    /// <summary>For each detection, whether it overlaps another one (its crop shows more than one object).</summary>
    private static bool[] Crowded(IReadOnlyList<Detection> detections)
    {
        var crowded = new bool[detections.Count];
        for (var i = 0; i < detections.Count; i++)
        {
            for (var j = i + 1; j < detections.Count; j++)
            {
                if (BoxXyxy.Iou(detections[i].Box, detections[j].Box) > CrowdedIou)
                {
                    crowded[i] = crowded[j] = true;
                }
            }
        }
        return crowded;
    }

    private void Confirm(Track track)
    {
        track.State = TrackState.Confirmed;
        track.Id = _nextId++;
        _confirmed++;
    }

    /// <summary>Makes room for a new track by dropping the one unseen for longest (lost tracks go before live ones).</summary>
    private void DropStalest(List<(TrackedObject, TrackEnd)> ended)
    {
        var stalest = 0;
        for (var i = 1; i < _tracks.Count; i++)
        {
            if (_tracks[i].LastSeenMs < _tracks[stalest].LastSeenMs)
            {
                stalest = i;
            }
        }
        var track = _tracks[stalest];
        _tracks.RemoveAt(stalest);
        _dropped++;
        if (track.State != TrackState.Tentative)
        {
            ended.Add((track.Snapshot(), TrackEnd.Dropped));
            _ended++;
        }
    }

    internal static float CosineDistance(float[] a, float[] b)
    {
        // Track embeddings are kept at unit length; the detection's norm is divided out here. SIMD: 512-d embeddings
        // against every track would otherwise be most of the tracker's time.
        var (dots, norms) = (Vector<float>.Zero, Vector<float>.Zero);
        var i = 0;
        for (; i <= a.Length - Vector<float>.Count; i += Vector<float>.Count)
        {
            var (va, vb) = (new Vector<float>(a, i), new Vector<float>(b, i));
            dots += va * vb;
            norms += vb * vb;
        }
        var (dot, norm) = (Vector.Sum(dots), Vector.Sum(norms));
        for (; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            norm += b[i] * b[i];
        }
        return norm > 0 ? 1 - dot / MathF.Sqrt(norm) : 1;
    }

    /// <summary>One track's mutable state; snapshots of it go out.</summary>
    private sealed class Track
    {
        private readonly Vector2[] _trail;
        private int _trailStart;
        private int _trailCount;

        public Track(in Detection first, long frameIndex, double timestampMs, int trailLength)
        {
            Filter = new KalmanBoxFilter(first.Box);
            _trail = new Vector2[trailLength];
            FirstFrame = frameIndex;
            FirstSeenMs = timestampMs;
            Age = 1;
            Hit(first, frameIndex, timestampMs, 0, updateAppearance: true, update: false);
        }

        public KalmanBoxFilter Filter { get; }

        public long Id { get; set; }

        public TrackState State { get; set; } = TrackState.Tentative;

        public bool Matched { get; set; }

        public int HitStreak { get; set; }

        public int Hits { get; private set; }

        public int Age { get; set; }

        public long FirstFrame { get; }

        public double FirstSeenMs { get; }

        public long LastFrame { get; private set; }

        public double LastSeenMs { get; private set; }

        /// <summary>The latest detection's box, as measured (not filtered).</summary>
        public BoxXyxy LastBox { get; private set; }

        public string Label { get; private set; } = "";

        public float Score { get; private set; }

        /// <summary>Unit length; replaced, never written in place, so snapshots may share it.</summary>
        public float[]? Embedding { get; private set; }

        public void Hit(in Detection detection, long frameIndex, double timestampMs, double momentum, bool updateAppearance, bool update = true)
        {
            if (update)
            {
                Filter.Update(detection.Box);
            }
            Matched = true;
            LastBox = detection.Box;
            HitStreak++;
            Hits++;
            LastFrame = frameIndex;
            LastSeenMs = timestampMs;
            Label = detection.Label;
            Score = detection.Score;
            if (updateAppearance && detection.Embedding is { Length: > 0 } seen)
            {
                Embedding = Blend(Embedding is { } known && known.Length == seen.Length ? known : null, seen, momentum);
            }
            var centre = Filter.Box.Centre;
            _trail[(_trailStart + _trailCount) % _trail.Length] = centre;
            if (_trailCount < _trail.Length)
            {
                _trailCount++;
            }
            else
            {
                _trailStart = (_trailStart + 1) % _trail.Length;
            }
        }

        public TrackedObject Snapshot()
        {
            var trail = new Vector2[_trailCount];
            for (var i = 0; i < _trailCount; i++)
            {
                trail[i] = _trail[(_trailStart + i) % _trail.Length];
            }
            return new TrackedObject(Id, State, Filter.Box, Matched, Label, Score, FirstFrame, LastFrame, FirstSeenMs, LastSeenMs,
                Age, Hits, Filter.VelocityPxPerS, trail, Embedding);
        }

        private static float[] Blend(float[]? known, float[] seen, double momentum)
        {
            var blended = new float[seen.Length];
            float seenNorm = 0;
            foreach (var v in seen)
            {
                seenNorm += v * v;
            }
            seenNorm = seenNorm > 0 ? MathF.Sqrt(seenNorm) : 1;
            var (keep, take) = known is null ? (0f, 1f) : ((float)momentum, (float)(1 - momentum));
            float norm = 0;
            for (var i = 0; i < seen.Length; i++)
            {
                blended[i] = (known is null ? 0 : keep * known[i]) + take * seen[i] / seenNorm;
                norm += blended[i] * blended[i];
            }
            norm = norm > 0 ? MathF.Sqrt(norm) : 1;
            for (var i = 0; i < blended.Length; i++)
            {
                blended[i] /= norm;
            }
            return blended;
        }
    }
}
