using Edge.Capture;

namespace Edge.Pipeline;

/// <summary>What analysis found in a frame. Filled by the temporal stage; empty until one is configured.</summary>
/// <param name="AnomalyCells">Where: the anomaly model's cell map ([<paramref name="CellRows"/>, <paramref name="CellColumns"/>],
/// row-major, 1 = the p99 of normal cells) for models that give one; null otherwise.</param>
public sealed record FrameAnalysis(string? Activity = null, float? ActivityConfidence = null, float? AnomalyScore = null,
    float[]? AnomalyCells = null, int CellRows = 0, int CellColumns = 0);

/// <summary>
/// The per-frame record that flows downstream of the CNN: identity, timing, the embedding and the objects, without pixels.
/// <see cref="Pixels"/> is set only when a sink asked for them (annotation); then this record owns that lease, and
/// the sink stage disposes it after the last sink has seen it.
/// </summary>
/// <param name="AgeMs">Milliseconds from capture to the end of inference.</param>
/// <param name="CapturedTicks"><see cref="System.Diagnostics.Stopwatch.GetTimestamp"/> at capture, for the age at later stages.</param>
public sealed record FrameResult(string StreamId, long Index, double TimestampMs, float[] Embedding, double AgeMs, long CapturedTicks)
{
    public FrameAnalysis? Analysis { get; init; }

    /// <summary>The tracks present at this frame (confirmed, seen or coasting), with ids; empty without a tracker.</summary>
    public IReadOnlyList<Tracking.TrackedObject> Tracks { get; init; } = [];

    /// <summary>The present tracks' activities (by track id) with a per-track activity model; empty otherwise or before a track's first window.</summary>
    public IReadOnlyDictionary<long, Tracking.TrackActivityLabel> TrackActivities { get; init; } = s_noActivities;

    /// <summary>Tracks that began an activity at this frame (episodes of non-idle labels): events naming the track.</summary>
    public IReadOnlyList<Tracking.TrackActivityEvent> TrackActivityEvents { get; init; } = [];

    private static readonly IReadOnlyDictionary<long, Tracking.TrackActivityLabel> s_noActivities = new Dictionary<long, Tracking.TrackActivityLabel>();

    /// <summary>What tracks did in the stream's zones and at its lines in this frame (enter, exit, loiter, cross).</summary>
    public IReadOnlyList<Zones.ZoneEvent> ZoneEvents { get; init; } = [];

    /// <summary>The stream's zones and lines (null without any), for the overlay of previews and annotated video.</summary>
    public Zones.ZoneLayout? ZoneLayout { get; init; }

    /// <summary>The zones' and lines' counts after this frame (null without zones), for the same overlay.</summary>
    public Zones.ZoneCounters? ZoneCounts { get; init; }

    /// <summary>What the object stage found in the frame; empty when it is off or nothing was found.</summary>
    public IReadOnlyList<DetectedObject> Objects { get; init; } = [];

    public Frame? Pixels { get; init; }

    /// <summary>The frame's size in pixels, as captured (what boxes and anomaly regions are given in).</summary>
    public int Width { get; init; }

    public int Height { get; init; }

    /// <summary>
    /// The anomalous region of an anomalous frame (score at or above 1.0, the model's threshold) in pixels
    /// (<see cref="Edge.Models.AnomalyMap.Region"/>: the connected cells at or above 1.0, the p99 of normal cells,
    /// around the hottest one); null for a normal frame, without a cell map, or when no cell reaches 1.0 (an anomaly of
    /// the whole picture or of its motion rather than of a place).
    /// </summary>
    public OpenCvSharp.Rect? AnomalyRegion =>
        Analysis is { AnomalyCells: { } cells, CellRows: > 0, AnomalyScore: >= 1f } a && Width > 0
            ? Edge.Models.AnomalyMap.Region(cells, a.CellRows, a.CellColumns, Width, Height)
            : null;

    /// <summary>The frame model's grid of this frame ([H·W·C]), kept only when a stage or sink reads it; else null.</summary>
    public float[]? Grid { get; init; }

    /// <summary>
    /// How fast what moves in each grid cell moved since the previous frame (<see cref="Edge.Models.GridAnomaly.FlowFeatures"/>),
    /// measured only when the anomaly model or a recording reads it; else null.
    /// </summary>
    public float[]? Flow { get; init; }
}
