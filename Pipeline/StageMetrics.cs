using Edge.Models;
using System.Diagnostics;

namespace Edge.Pipeline;

/// <summary>Counters and latencies of one stage, updated by the stage and read at any time by progress and reports.</summary>
public sealed class StageMetrics
{
    private const int Samples = 8192;
    private readonly double[] _latencyMs = new double[Samples];
    private readonly Lock _lock = new();
    private readonly Func<int>? _queueDepth;
    private long _in;
    private long _out;
    private long _dropped;
    private long _skipped;
    private long _latencyCount;
    private long _firstTicks;
    private long _lastTicks;
    private int _peakQueue;

    public StageMetrics(string name, Func<int>? queueDepth = null)
    {
        Name = name;
        _queueDepth = queueDepth;
    }

    public string Name { get; }

    public long In => Interlocked.Read(ref _in);

    public long Out => Interlocked.Read(ref _out);

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Items that passed through without the stage's work, because a gate said it was not needed.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    public void CountIn()
    {
        var now = Stopwatch.GetTimestamp();
        Interlocked.CompareExchange(ref _firstTicks, now, 0);
        Interlocked.Increment(ref _in);
        var depth = _queueDepth?.Invoke() ?? 0;
        if (depth > Volatile.Read(ref _peakQueue))
        {
            Volatile.Write(ref _peakQueue, depth);
        }
    }

    public void CountOut(double latencyMs)
    {
        Interlocked.Increment(ref _out);
        Volatile.Write(ref _lastTicks, Stopwatch.GetTimestamp());
        lock (_lock)
        {
            _latencyMs[_latencyCount++ % Samples] = latencyMs;
        }
    }

    public void CountDropped() => Interlocked.Increment(ref _dropped);

    public void CountSkipped() => Interlocked.Increment(ref _skipped);

    public StageSnapshot Snapshot()
    {
        double[] latencies;
        lock (_lock)
        {
            latencies = _latencyMs.AsSpan(0, (int)Math.Min(_latencyCount, Samples)).ToArray();
        }
        Array.Sort(latencies);
        var first = Interlocked.Read(ref _firstTicks);
        var last = Volatile.Read(ref _lastTicks);
        var seconds = first == 0 || last <= first ? 0 : Stopwatch.GetElapsedTime(first, last).TotalSeconds;
        return new StageSnapshot(Name, In, Out, Dropped, seconds > 0 ? Out / seconds : 0,
            Statistics.Percentile(latencies, 0.50), Statistics.Percentile(latencies, 0.99), _queueDepth?.Invoke() ?? 0, Volatile.Read(ref _peakQueue), Skipped);
    }

}

/// <param name="Fps">Frames out per second between the first frame in and the last frame out.</param>
/// <param name="QueueDepth">Items waiting in the stage's input channel now.</param>
/// <param name="PeakQueueDepth">Most items seen waiting in the stage's input channel.</param>
/// <param name="Skipped">Items passed on without the stage's work (the object stage's gated-out frames).</param>
public sealed record StageSnapshot(string Name, long In, long Out, long Dropped, double Fps,
    double LatencyP50Ms, double LatencyP99Ms, int QueueDepth, int PeakQueueDepth, long Skipped = 0);
