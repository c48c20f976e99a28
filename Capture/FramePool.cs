using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// A fixed set of frame buffers handed out as <see cref="Frame"/> leases. The pool owns every buffer: native memory
/// for pixels is bounded by <see cref="Capacity"/>, never by queue depth. A lease returns its buffer when disposed;
/// <see cref="RentAsync"/> waits while all buffers are out. Disposing the pool frees the buffers that are in it and
/// frees the others as their leases come back.
/// </summary>
public sealed class FramePool : IDisposable
{
    private readonly Stack<Mat> _free = new();
    private readonly SemaphoreSlim _available;
    private readonly Lock _lock = new();
    private int _outstanding;
    private int _peakOutstanding;
    private bool _disposed;

    public FramePool(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        for (var i = 0; i < capacity; i++)
        {
            _free.Push(new Mat());
        }
        _available = new SemaphoreSlim(capacity, capacity);
    }

    /// <summary>Number of buffers the pool owns.</summary>
    public int Capacity { get; }

    /// <summary>Leases currently out.</summary>
    public int Outstanding => Volatile.Read(ref _outstanding);

    /// <summary>The most leases that were ever out at once.</summary>
    public int PeakOutstanding => Volatile.Read(ref _peakOutstanding);

    /// <summary>Waits for a free buffer and leases it. The caller owns the returned frame.</summary>
    public async ValueTask<Frame> RentAsync(CancellationToken ct)
    {
        await _available.WaitAsync(ct).ConfigureAwait(false);
        return Take();
    }

    /// <summary>Leases a buffer, blocking while none is free. The caller owns the returned frame.</summary>
    public Frame Rent(CancellationToken ct)
    {
        _available.Wait(ct);
        return Take();
    }

    private Frame Take()
    {
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var buffer = _free.Pop();
            _outstanding++;
            _peakOutstanding = Math.Max(_peakOutstanding, _outstanding);
            return new Frame(this, buffer);
        }
    }

    internal void Return(Mat buffer)
    {
        lock (_lock)
        {
            _outstanding--;
            if (_disposed)
            {
                buffer.Dispose();
                return;
            }
            _free.Push(buffer);
        }
        _available.Release();
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            while (_free.TryPop(out var buffer))
            {
                buffer.Dispose();
            }
        }
    }
}
