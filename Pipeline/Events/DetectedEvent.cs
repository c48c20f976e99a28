namespace Edge.Pipeline.Events;

/// <summary>
/// One episode of an anomaly or an activity on a stream: where it starts and ends (media time and frame index) and
/// its peak. <see cref="Id"/> is unique, for de-duplication downstream.
/// </summary>
public sealed record DetectedEvent(
    string Id,
    string StreamId,
    string Kind,
    string Label,
    double StartMs,
    double EndMs,
    long StartFrame,
    long EndFrame,
    double PeakScore,
    long PeakFrame)
{
    /// <summary>File name of the JPEG of the peak frame, beside the event list; null when none was kept.</summary>
    public string? Snapshot { get; init; }

    /// <summary>
    /// Anomaly events of a model with a cell map: where in the peak frame, [x1, y1, x2, y2] in pixels (the snapshot shows
    /// the map as a heatmap and this box outlined); null otherwise.
    /// </summary>
    public int[]? Region { get; init; }

    /// <summary>File name of the event's clip (MJPEG AVI, half size, with pre- and post-roll); null when none.</summary>
    public string? Clip { get; init; }

    public const string AnomalyKind = "anomaly";
    public const string ActivityKind = "activity";

    /// <summary>A track entered, left or loitered in a zone, or crossed a line: an instant (its label says which, its region is the track's box).</summary>
    public const string ZoneKind = "zone";

    /// <summary>The track a zone event or a per-track activity event is about; null for other events.</summary>
    public long? Track { get; init; }

    public double DurationMs => EndMs - StartMs;
}
