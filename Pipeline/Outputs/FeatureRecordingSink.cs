using Edge.Models.GridAnomaly;

namespace Edge.Pipeline.Outputs;

/// <summary>
/// Records every frame's features (embedding, grid and cell flow, exactly as the pipeline computes them) into a
/// <see cref="FeatureRecorder"/> for learning, until <paramref name="maxBytes"/> would be exceeded; then it stops and
/// says so (<see cref="Full"/>). A long gap in frame indices (a reconnect, a loop starting again) starts a new
/// segment, so no motion is learned across it; a few frames dropped because analysis fell behind do not: the temporal
/// stage sees the same consecutive processed frames when it serves. Does not own the recorder.
/// </summary>
public sealed class FeatureRecordingSink(FeatureRecorder recorder, long maxBytes = long.MaxValue) : IResultSink
{
    /// <summary>The longest run of missing frames that does not end a segment.</summary>
    public const int MaxGapFrames = 10;

    private long _lastIndex = -1;

    public bool NeedsPixels => false;

    public bool NeedsGrid => true;

    public bool NeedsFlow => true;

    /// <summary>True once the disk budget stopped the recording.</summary>
    public bool Full { get; private set; }

    public long Frames => recorder.Frames;

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        if (Full || result.Grid is null)
        {
            return ValueTask.CompletedTask;
        }
        if (recorder.Bytes + (recorder.Bytes / Math.Max(1, recorder.Frames)) > maxBytes)
        {
            Full = true;
            recorder.EndSegment();
            return ValueTask.CompletedTask;
        }
        if (_lastIndex >= 0 && (result.Index <= _lastIndex || result.Index > _lastIndex + MaxGapFrames))
        {
            recorder.EndSegment();
        }
        _lastIndex = result.Index;
        recorder.Add(result.Embedding, result.Grid, result.TimestampMs, result.Flow);
        return ValueTask.CompletedTask;
    }

    public ValueTask CompleteAsync(CancellationToken ct)
    {
        recorder.EndSegment();
        return ValueTask.CompletedTask;
    }

    public ValueTask DisposeAsync()
    {
        recorder.EndSegment();
        return ValueTask.CompletedTask;
    }
}
