namespace Edge.Capture;

public enum CaptureError
{
    /// <summary>The file, folder or device does not exist.</summary>
    NotFound,
    /// <summary>It exists but is not a video or image sequence that can be decoded.</summary>
    Undecodable,
    /// <summary>Decoding stopped before the end the container announced.</summary>
    Truncated,
    /// <summary>A camera or network stream did not answer, or answered with something that is not video.</summary>
    Unreachable,
    /// <summary>The <see cref="SourcePolicy"/> does not allow this source; nothing was opened.</summary>
    Refused,
}

/// <summary>
/// An expected failure of a frame source: its message is written for the user, without a stack trace, and never holds
/// credentials (it passes through <see cref="Redaction.Redact"/>). <see cref="Detail"/> is for the log only: for a
/// network stream it is ffmpeg's own reason (connection refused, 401, invalid data), which would let whoever reads
/// the message map the network.
/// </summary>
public sealed class CaptureException(CaptureError error, string message, string? detail = null)
    : Exception(Redaction.Redact(message))
{
    public CaptureError Error { get; } = error;

    /// <summary>The technical reason, credentials removed; for the log, not for the user or an API.</summary>
    public string? Detail { get; } = detail is null ? null : Redaction.Redact(detail);
}
