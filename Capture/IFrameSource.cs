namespace Edge.Capture;

/// <summary>
/// A source of decoded frames: a video file, a camera, a network stream or an image folder. The source owns its
/// decoder; the frames it returns are leases from the caller's pool and belong to the caller.
/// </summary>
public interface IFrameSource : IDisposable
{
    string StreamId { get; }

    SourceInfo Info { get; }

    /// <summary>
    /// Blocks until the next frame is decoded into a buffer leased from <paramref name="pool"/> and returns it, or
    /// returns null at the end of the stream. Throws <see cref="CaptureException"/> when the source fails in a way the
    /// user must hear about (for example a file that ends before its announced length).
    /// </summary>
    Frame? Read(FramePool pool, CancellationToken ct);
}
