namespace Edge.Pipeline;

/// <summary>
/// Where results go (files, video, later events). The sink stage calls <see cref="WriteAsync"/> once per frame, in
/// order, then <see cref="CompleteAsync"/> once after the last frame of a run that was not aborted. A sink must not
/// keep <see cref="FrameResult.Pixels"/> beyond the call: the stage disposes them afterwards.
/// </summary>
public interface IResultSink : IAsyncDisposable
{
    /// <summary>Whether this sink needs the frame pixels (keeps them alive past the CNN).</summary>
    bool NeedsPixels { get; }

    /// <summary>Whether this sink reads <see cref="FrameResult.Grid"/> (a recording for learning).</summary>
    bool NeedsGrid => false;

    /// <summary>Whether this sink reads <see cref="FrameResult.Flow"/> (a recording for learning).</summary>
    bool NeedsFlow => false;

    ValueTask WriteAsync(FrameResult result, CancellationToken ct);

    ValueTask CompleteAsync(CancellationToken ct);
}
