namespace Edge.Pipeline;

/// <summary>
/// Frame ages (or any non-negative duration in ms) over a whole run in a fixed amount of memory: a histogram of
/// logarithmic buckets, each 1 % wider than the one before, from 0.1 ms to about 2.8 hours, plus the exact minimum and
/// maximum. A run of a day at 30 fps holds the same 1,900 counters as a run of ten frames, where a list of every age
/// grew by one number per frame for as long as the stream ran. Percentiles are nearest-rank, as
/// <see cref="Edge.Models.Statistics.Percentile"/> computes them on a sorted list, within half a bucket (0.5 %) of the
/// exact value. Thread-safe.
/// </summary>
public sealed class FrameAgeHistogram
{
    private const double SmallestMs = 0.1;
    private const double LargestMs = 1e7;
    private static readonly double s_logGrowth = Math.Log(1.01);

    /// <summary>Buckets held, whatever the number of values recorded.</summary>
    public static readonly int BucketCount = 2 + (int)Math.Ceiling(Math.Log(LargestMs / SmallestMs) / s_logGrowth);

    private readonly long[] _counts = new long[BucketCount];
    private readonly Lock _lock = new();
    private long _count;
    private double _min = double.PositiveInfinity;
    private double _max = double.NegativeInfinity;

    /// <summary>Values recorded so far.</summary>
    public long Count
    {
        get
        {
            lock (_lock)
            {
                return _count;
            }
        }
    }

    public void Record(double valueMs)
    {
        if (double.IsNaN(valueMs))
        {
            return;
        }
        var bucket = BucketOf(valueMs);
        lock (_lock)
        {
            _counts[bucket]++;
            _count++;
            _min = Math.Min(_min, valueMs);
            _max = Math.Max(_max, valueMs);
        }
    }

    /// <summary>The nearest-rank percentile (<paramref name="p"/> in 0..1); 0 when nothing was recorded.</summary>
    public double Percentile(double p)
    {
        lock (_lock)
        {
            if (_count == 0)
            {
                return 0;
            }
            var rank = Math.Clamp((long)Math.Ceiling(p * _count), 1, _count);
            if (rank == _count)
            {
                return _max;
            }
            if (rank == 1)
            {
                return _min;
            }
            long seen = 0;
            for (var i = 0; i < _counts.Length; i++)
            {
                seen += _counts[i];
                if (seen >= rank)
                {
                    return Math.Clamp(MiddleOf(i), _min, _max);
                }
            }
            return _max;
        }
    }

    private static int BucketOf(double valueMs)
    {
        if (valueMs < SmallestMs)
        {
            return 0;
        }
        var index = 1 + (int)Math.Floor(Math.Log(valueMs / SmallestMs) / s_logGrowth);
        return Math.Min(index, BucketCount - 1);
    }

    /// <summary>The geometric middle of a bucket: within half a bucket of every value in it.</summary>
    private static double MiddleOf(int bucket) =>
        bucket == 0 ? SmallestMs / 2 : SmallestMs * Math.Exp((bucket - 0.5) * s_logGrowth);
}
