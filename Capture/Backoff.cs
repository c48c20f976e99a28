namespace Edge.Capture;

/// <summary>
/// Exponential backoff with full jitter, the one rule every retry loop of Edge follows: a reconnecting source, the
/// delivery of events and a faulted service stream. After the n-th failure in a row the wait is drawn uniformly from
/// 0 to min(max, initial × multiplier^(n−1)), so devices or streams that failed together do not retry in step
/// ("full jitter"). <see cref="Reset"/> after a success makes the next failure wait as the first. Not thread-safe:
/// one retry loop owns one instance.
/// </summary>
public sealed class Backoff
{
    private readonly double _initialMs;
    private readonly double _maxMs;
    private readonly double _multiplier;

    /// <param name="initialMs">Bound of the first wait.</param>
    /// <param name="maxMs">No wait is longer (at least <paramref name="initialMs"/>).</param>
    /// <param name="multiplier">Growth of the bound per failure in a row (at least 1).</param>
    public Backoff(double initialMs, double maxMs, double multiplier = 2)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(initialMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxMs, initialMs);
        ArgumentOutOfRangeException.ThrowIfLessThan(multiplier, 1.0);
        _initialMs = initialMs;
        _maxMs = maxMs;
        _multiplier = multiplier;
    }

    /// <summary>Failures in a row since the last <see cref="Reset"/>.</summary>
    public int Failures { get; private set; }

    /// <summary>The bound of the wait after <paramref name="failures"/> failures in a row (1 = the first).</summary>
    public static double CeilingMs(double initialMs, double maxMs, double multiplier, int failures) =>
        Math.Min(maxMs, initialMs * Math.Pow(multiplier, Math.Min(Math.Max(0, failures - 1), 1000)));

    /// <summary>The bound of the next wait, before it is drawn.</summary>
    public double NextCeilingMs => CeilingMs(_initialMs, _maxMs, _multiplier, Failures + 1);

    /// <summary>
    /// Counts one more failure and draws its wait. <paramref name="atLeast"/> (a server's Retry-After) raises the wait
    /// to that, but never above the maximum.
    /// </summary>
    public TimeSpan Next(TimeSpan? atLeast = null)
    {
        Failures++;
        var delayMs = Random.Shared.NextDouble() * CeilingMs(_initialMs, _maxMs, _multiplier, Failures);
        if (atLeast is { } asked)
        {
            delayMs = Math.Max(delayMs, Math.Min(asked.TotalMilliseconds, _maxMs));
        }
        return TimeSpan.FromMilliseconds(delayMs);
    }

    /// <summary>After a success: the next failure waits as the first.</summary>
    public void Reset() => Failures = 0;
}
