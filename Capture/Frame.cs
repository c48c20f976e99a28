using System.Diagnostics;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// A decoded frame on lease from a <see cref="FramePool"/>. Whoever holds the frame owns its pixels until it
/// disposes it (the buffer goes back to the pool) or hands it on with a successful channel write. The
/// <see cref="Image"/> is valid only while the frame is not disposed; never keep a reference to it beyond that.
/// </summary>
public sealed class Frame : IDisposable
{
    private readonly FramePool _pool;
    private Mat? _buffer;

    internal Frame(FramePool pool, Mat buffer)
    {
        _pool = pool;
        _buffer = buffer;
    }

    /// <summary>The stream this frame came from.</summary>
    public string StreamId { get; private set; } = "";

    /// <summary>Frame number in the source: container position for files, a running count for live sources.</summary>
    public long Index { get; private set; }

    /// <summary>Media time: container time for files, milliseconds since the Unix epoch for live sources.</summary>
    public double TimestampMs { get; private set; }

    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the frame was read, for measuring frame age.</summary>
    public long CapturedTicks { get; private set; }

    /// <summary>The pixels (BGR, 8-bit, 3 channels). Valid until the frame is disposed.</summary>
    public Mat Image => _buffer ?? throw new ObjectDisposedException(nameof(Frame));

    /// <summary>Milliseconds since the frame was read.</summary>
    public double AgeMs => Stopwatch.GetElapsedTime(CapturedTicks).TotalMilliseconds;

    /// <summary>Sets the frame's identity once its pixels have been read into <see cref="Image"/>.</summary>
    public void Stamp(string streamId, long index, double timestampMs)
    {
        StreamId = streamId;
        Index = index;
        TimestampMs = timestampMs;
        CapturedTicks = Stopwatch.GetTimestamp();
    }

    /// <summary>Returns the buffer to the pool. Safe to call more than once.</summary>
    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            _pool.Return(buffer);
        }
    }
}
