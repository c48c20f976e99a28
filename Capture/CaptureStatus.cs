namespace Edge.Capture;

/// <summary>Where a live source's connection stands.</summary>
public enum CaptureState
{
    /// <summary>Opening the source (first time or after a backoff wait).</summary>
    Connecting,
    /// <summary>Connected; frames are expected.</summary>
    Running,
    /// <summary>The last attempt failed; waiting before the next one.</summary>
    Backoff,
    /// <summary>Cancelled, disposed, or at its frame limit: no further attempt is made.</summary>
    Stopped,
}

/// <summary>A consistent snapshot of a <see cref="ReconnectingSource"/>, safe to read from any thread.</summary>
/// <param name="Frames">Frames delivered to the caller over all connections.</param>
/// <param name="Reconnects">Failures (open failed, stream ended or stalled) after which the source tried again.</param>
/// <param name="ConsecutiveFailures">Failures since the last stable connection; sets the backoff bound.</param>
/// <param name="LastError">The latest failure, with credentials removed from any URL; null before the first.</param>
/// <param name="LastFrameUtc">When the latest frame was delivered; null before the first.</param>
/// <param name="RetryAtUtc">In <see cref="CaptureState.Backoff"/>, when the next attempt starts; otherwise null.</param>
public sealed record CaptureStatus(
    CaptureState State,
    long Frames,
    long Reconnects,
    int ConsecutiveFailures,
    string? LastError,
    DateTime? LastFrameUtc,
    DateTime? RetryAtUtc);
