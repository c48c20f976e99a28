namespace Edge.Capture;

public enum CaptureError
{
    /// <summary>The file, folder or device does not exist.</summary>
    NotFound,
    /// <summary>It exists but is not a video or image sequence that can be decoded.</summary>
    Undecodable,
    /// <summary>Decoding stopped before the end the container announced.</summary>
    Truncated,
    /// <summary>A camera or network stream did not answer.</summary>
    Unreachable,
}

/// <summary>An expected failure of a frame source: its message is written for the user, without a stack trace.</summary>
public sealed class CaptureException(CaptureError error, string message) : Exception(message)
{
    public CaptureError Error { get; } = error;
}
