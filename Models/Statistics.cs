namespace Edge.Models;

/// <summary>Order statistics shared by metrics, calibration and evaluation.</summary>
public static class Statistics
{
    /// <summary>Nearest-rank percentile (<paramref name="p"/> in 0..1) of values sorted ascending; 0 when there are none.</summary>
    public static double Percentile(ReadOnlySpan<double> sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>Nearest-rank percentile of unsorted values (sorts a copy).</summary>
    public static double PercentileOf(IEnumerable<double> values, double p)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return Percentile(sorted, p);
    }
}
