using Edge.Capture;

namespace Edge.Host.Service;

/// <summary>Where a live stream stands.</summary>
public enum StreamState
{
    /// <summary>Being set up, or opening its source.</summary>
    Connecting,

    /// <summary>Connected; frames are expected.</summary>
    Running,

    /// <summary>The source failed (could not open, ended, stalled); waiting to reconnect.</summary>
    Backoff,

    /// <summary>Stopped for good: removed, shut down, or a file without loop that has played to its end.</summary>
    Stopped,

    /// <summary>The stream itself failed (its set-up or a stage threw); it restarts after a backoff and shows the reason until frames flow again.</summary>
    Faulted,
}

/// <summary>The one mapping from a capture's state to a stream's: by name, never by position.</summary>
public static class StreamStates
{
    public static StreamState From(CaptureState state) => state switch
    {
        CaptureState.Connecting => StreamState.Connecting,
        CaptureState.Running => StreamState.Running,
        CaptureState.Backoff => StreamState.Backoff,
        CaptureState.Stopped => StreamState.Stopped,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, "a capture state without a stream state"),
    };
}

/// <summary>A stream to run, from config (<c>Streams</c>) or the REST API.</summary>
/// <param name="Id">Unique, short, URL-safe ([A-Za-z0-9_-]).</param>
/// <param name="Source">File, camera ("0", "/dev/video0") or URL; may hold credentials, so never log or return it.</param>
/// <param name="TargetFps">Frames per second to analyse (0 = the source's rate).</param>
/// <param name="Loop">Files only: start again at the end (a looping test camera).</param>
/// <param name="AnomalyModel">Anomaly model file for this stream, or empty for the service default.</param>
/// <param name="ActivityModel">Activity model file for this stream, or empty for the service default.</param>
/// <param name="Events">This stream's event rules instead of the <c>Events</c> section (keys not given take their defaults), or null.</param>
public sealed partial record StreamDefinition(string Id, string Source, double TargetFps = 0, bool Loop = false,
    string AnomalyModel = "", string ActivityModel = "", Edge.Pipeline.Events.EventRules? Events = null, double? LearnMinutes = null)
{
    /// <summary>This stream's zones and lines instead of the <c>Zones</c> section's, or null.</summary>
    public Edge.Pipeline.Zones.ZoneLayoutOptions? Zones { get; init; }

    /// <summary>The one rule for stream ids, used by the config, the API and the service.</summary>
    public const string IdPattern = "^[A-Za-z0-9_-]{1,64}$";

    public const string IdRule = "a stream id is 1-64 letters, digits, '_' or '-'";

    /// <summary>
    /// The one case rule for stream ids: exact (case-sensitive) in the registry, previews, metrics and events. Two
    /// streams may not have ids that differ only in case (the config and the service refuse it), so no lookup is
    /// ever ambiguous to a reader.
    /// </summary>
    public static StringComparer IdComparer => StringComparer.Ordinal;

    public static bool IsValidId(string id) => IdRegex().IsMatch(id);

    [System.Text.RegularExpressions.GeneratedRegex(IdPattern)]
    private static partial System.Text.RegularExpressions.Regex IdRegex();
}

/// <summary>
/// A snapshot of one stream for the dashboard, the REST API and /metrics. Source is redacted. Counters (frames,
/// reconnects) add up over the stream's restarts after faults.
/// </summary>
public sealed record StreamStatus(
    string Id,
    string Source,
    StreamState State,
    string? LastError,
    DateTime? LastFrameUtc,
    long FramesRead,
    long FramesProcessed,
    long FramesDropped,
    long Reconnects,
    double Fps,
    double AgeP50Ms,
    double AgeP99Ms,
    string? Activity,
    float? AnomalyScore,
    long Events)
{
    /// <summary>Times the stream faulted (its set-up or a stage threw) and was restarted.</summary>
    public long Faults { get; init; }

    /// <summary>The rate the source should deliver at: its own frame rate, or the stream's target fps if lower; 0 before it is known.</summary>
    public double SourceFps { get; init; }

    /// <summary>Frames per second the source actually delivered recently (a source that falls behind its clock skips frames).</summary>
    public double OfferedFps { get; init; }

    /// <summary>
    /// The stream's own anomaly model: <c>learning (12 of 30 min)</c> while it records, <c>learning: fitting the model</c>,
    /// <c>learned anomaly-….onnx</c> once in use, or why learning failed; null for a stream that does not learn.
    /// </summary>
    public string? Learning { get; init; }

    /// <summary>
    /// For a stream configured with an anomaly model file: what became of the file's last change (<c>reloaded
    /// model.onnx at 21:40:02 UTC</c>, or why the new file cannot be used and the previous model goes on); null until it changes.
    /// </summary>
    public string? AnomalyModel { get; init; }

    /// <summary>The stream's zones (occupancy now, entries) and lines (crossings per direction) since it started; null without zones.</summary>
    public Edge.Pipeline.Zones.ZoneCounters? Zones { get; init; }
}

/// <summary>The running streams of <c>edge run</c>, as the web layer sees them. Thread-safe.</summary>
public interface IStreamRegistry
{
    IReadOnlyList<StreamStatus> Streams { get; }

    StreamStatus? Find(string id);

    /// <summary>Recent anomaly scores of a stream, oldest first (at most a few hundred), for a sparkline.</summary>
    IReadOnlyList<float> AnomalyHistory(string id);

    /// <summary>
    /// Starts a stream; throws <see cref="ArgumentException"/> for a bad or duplicate definition, and its subclass
    /// <see cref="StreamLimitException"/> when as many streams run as allowed.
    /// </summary>
    Task<StreamStatus> AddAsync(StreamDefinition definition, CancellationToken ct);

    /// <summary>Stops and removes a stream (its events stay); false when there is no such stream.</summary>
    Task<bool> RemoveAsync(string id, CancellationToken ct);

    /// <summary>Starts learning a stream's anomaly model again from new footage; the model in use stays until the new one is learned.</summary>
    RelearnOutcome Relearn(string id) => RelearnOutcome.NoStream;
}

/// <summary>What a relearn request did.</summary>
public enum RelearnOutcome
{
    Started,
    NoStream,

    /// <summary>The stream has a configured anomaly model, or learning is off (<c>LearnMinutes</c> 0).</summary>
    DoesNotLearn,

    /// <summary>A model is being fitted now; ask again when it is done.</summary>
    Busy,
}

/// <summary>A stream could not be added because the service already runs as many as it may (Service:MaxStreams).</summary>
public sealed class StreamLimitException(string message) : ArgumentException(message);
