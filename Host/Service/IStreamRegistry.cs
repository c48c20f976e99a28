namespace Edge.Host.Service;

/// <summary>Where a live stream's capture stands.</summary>
public enum StreamState
{
    Connecting,
    Running,
    Backoff,
    Stopped,
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
    string AnomalyModel = "", string ActivityModel = "", Edge.Pipeline.Events.EventRules? Events = null)
{
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

/// <summary>A snapshot of one stream for the dashboard, the REST API and /metrics. Source is redacted.</summary>
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
    long Events);

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
}

/// <summary>A stream could not be added because the service already runs as many as it may (Service:MaxStreams).</summary>
public sealed class StreamLimitException(string message) : ArgumentException(message);
