using System.Numerics;

namespace Edge.Pipeline.Tracking;

/// <summary>What the tracker consumes: one detected box with its score, label and, when the object stage embedded its crop, the crop's embedding.</summary>
/// <param name="Score">Detector confidence in 0..1 (the head's probability; 1 for plain motion regions).</param>
/// <param name="Embedding">The crop's frame-model embedding (any length, compared by cosine), or null.</param>
public readonly record struct Detection(BoxXyxy Box, float Score = 1, string Label = "", float[]? Embedding = null)
{
    /// <summary>The object stage's object as the tracker sees it, its crop embedding included when it has one.</summary>
    public static Detection From(DetectedObject detected) =>
        new(BoxXyxy.From(detected.BoxXyxy), detected.Confidence, detected.Label, detected.Embedding);
}

/// <summary>A track's life: tentative until it has matched <see cref="TrackingOptions.ConfirmHits"/> times in a row, then confirmed; lost while unmatched.</summary>
public enum TrackState
{
    Tentative,
    Confirmed,
    Lost,
}

/// <summary>
/// One track at one frame, as the tracker reports it: immutable, safe to hand downstream (arrays are not shared
/// with the tracker's state).
/// </summary>
/// <param name="Id">Stable, increasing from 1 per tracker, given when the track is confirmed.</param>
/// <param name="Box">The filtered box when <paramref name="Matched"/>, else the prediction while the track is lost.</param>
/// <param name="Matched">Whether a detection of this frame updated the track.</param>
/// <param name="AgeFrames">Frames the tracker has processed since the track started (its first detection included).</param>
/// <param name="Hits">Detections that updated the track.</param>
/// <param name="VelocityPxPerS">Filtered velocity of the box's centre.</param>
/// <param name="Trail">Recent box centres, oldest first, at most <see cref="TrackingOptions.TrailLength"/>.</param>
/// <param name="Embedding">Moving average of the matched detections' embeddings (unit length), or null when none carried one.</param>
public sealed record TrackedObject(long Id, TrackState State, BoxXyxy Box, bool Matched, string Label, float Score,
    long FirstFrame, long LastFrame, double FirstSeenMs, double LastSeenMs, int AgeFrames, int Hits,
    Vector2 VelocityPxPerS, Vector2[] Trail, float[]? Embedding)
{
    /// <summary>Time from the first to the latest detection of the track.</summary>
    public double DwellMs => LastSeenMs - FirstSeenMs;

    /// <summary>Speed of the box's centre in pixels per second.</summary>
    public double SpeedPxPerS => VelocityPxPerS.Length();
}

/// <summary>Why a track ended.</summary>
public enum TrackEnd
{
    /// <summary>Unseen for longer than <see cref="TrackingOptions.MaxLostMs"/>.</summary>
    Expired,

    /// <summary>Pushed out by a new track at <see cref="TrackingOptions.MaxTracks"/>.</summary>
    Dropped,
}

/// <summary>The tracker's answer for one frame.</summary>
/// <param name="Tracks">Confirmed tracks (matched this frame) and lost ones (coasting on their prediction), by id.</param>
/// <param name="Ended">Confirmed tracks that ended at this frame, as last seen, with why.</param>
/// <param name="Present">
/// The tracks to show and report at this frame: the matched ones, and lost ones unseen for at most
/// <see cref="TrackingOptions.CoastMs"/> (on their prediction), so that one missed detection does not make a person
/// blink out.
/// </param>
public sealed record TrackingUpdate(long FrameIndex, double TimestampMs, IReadOnlyList<TrackedObject> Tracks,
    IReadOnlyList<(TrackedObject Track, TrackEnd Reason)> Ended, IReadOnlyList<TrackedObject> Present)
{
    /// <summary>The confirmed tracks a detection updated at this frame: the ones whose positions are measured, which zones judge.</summary>
    public IEnumerable<TrackedObject> Matched => Tracks.Where(t => t.Matched);
}

/// <summary>A tracker's counters since it started.</summary>
/// <param name="Confirmed">Tracks that were confirmed (ids given out).</param>
/// <param name="Ended">Confirmed tracks that ended, dropped ones included.</param>
/// <param name="Dropped">Tracks pushed out at <see cref="TrackingOptions.MaxTracks"/> (tentative ones included).</param>
/// <param name="Active">Tracks held now: tentative, confirmed and lost.</param>
public sealed record TrackerStats(long Frames, long Confirmed, long Ended, long Dropped, int Active);
