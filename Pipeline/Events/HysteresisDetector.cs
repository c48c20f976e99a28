namespace Edge.Pipeline.Events;

/// <summary>
/// Turns one stream's score of one kind into events: an episode opens when the score reaches the enter threshold,
/// closes when it falls below the exit threshold (or the label changes), is reported only if it lasted at least the
/// minimum duration, and is followed by a cooldown in which no episode opens. An episode longer than the maximum
/// duration is reported in parts: when a frame would take it past the maximum, the part so far is reported and the
/// next part starts with that frame, without a cooldown between them.
/// </summary>
public sealed class HysteresisDetector(string streamId, string kind, double enter, double exit, double minDurationMs, double cooldownMs,
    double maxDurationMs = double.PositiveInfinity)
{
    private Episode? _open;

    /// <summary>The kind of event this detector finds (<see cref="DetectedEvent.AnomalyKind"/> or <see cref="DetectedEvent.ActivityKind"/>).</summary>
    public string Kind => kind;
    private double _quietUntilMs = double.NegativeInfinity;

    private sealed record Episode(string Label, double StartMs, long StartFrame, double LastMs, long LastFrame, double Peak, long PeakFrame);

    /// <summary>
    /// Feeds one frame; returns the event that this frame closes, if any. A null score (no model output yet) or a label
    /// change closes an open episode.
    /// </summary>
    public DetectedEvent? Observe(double timestampMs, long frame, string label, double? score)
    {
        DetectedEvent? closed = null;
        if (_open is { } open)
        {
            if (score is { } s && s >= exit && label == open.Label)
            {
                if (timestampMs - open.StartMs > maxDurationMs)
                {
                    // The part so far ends with the previous frame; this frame starts the next part at once.
                    closed = Close();
                    _quietUntilMs = double.NegativeInfinity;
                    _open = new Episode(label, timestampMs, frame, timestampMs, frame, s, frame);
                    return closed;
                }
                _open = open with
                {
                    LastMs = timestampMs,
                    LastFrame = frame,
                    Peak = Math.Max(open.Peak, s),
                    PeakFrame = s > open.Peak ? frame : open.PeakFrame,
                };
                return null;
            }
            closed = Close();
        }
        if (score is { } v && v >= enter && timestampMs >= _quietUntilMs)
        {
            _open = new Episode(label, timestampMs, frame, timestampMs, frame, v, frame);
        }
        return closed;
    }

    /// <summary>The frame index of the open episode's peak so far, or null when no episode is open.</summary>
    public long? OpenPeakFrame => _open?.PeakFrame;

    /// <summary>Closes an open episode at the end of the stream.</summary>
    public DetectedEvent? Flush() => _open is null ? null : Close();

    private DetectedEvent? Close()
    {
        var episode = _open!;
        _open = null;
        if (episode.LastMs - episode.StartMs < minDurationMs)
        {
            return null;
        }
        _quietUntilMs = episode.LastMs + cooldownMs;
        return new DetectedEvent(Guid.NewGuid().ToString("N"), streamId, kind, episode.Label, episode.StartMs, episode.LastMs,
            episode.StartFrame, episode.LastFrame, episode.Peak, episode.PeakFrame);
    }
}
