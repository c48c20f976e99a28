using Edge.Capture;
using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Pipeline.Tests;

/// <summary>Frame ages of a run are kept in a fixed number of buckets, however long the run, with percentiles within 0.5 %.</summary>
public sealed class FrameAgeHistogramTests
{
    [Fact]
    public void Record_AMillionAges_NoMemoryGrowthAndPercentilesWithinHalfAPercent()
    {
        var histogram = new FrameAgeHistogram();
        var random = new Random(5);
        // Log-normal ages around 300 ms with a long tail, as a loaded service has them.
        var ages = new double[1_000_000];
        for (var i = 0; i < ages.Length; i++)
        {
            var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            ages[i] = 300 * Math.Exp(0.8 * normal);
        }
        histogram.Record(ages[0]);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 1; i < ages.Length; i++)
        {
            histogram.Record(ages[i]);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;

        // A list of every age would have taken 8 MB here, and 8 bytes more per frame for as long as the stream runs.
        Assert.True(allocated < 1024, $"{allocated} bytes allocated while recording a million ages");
        Assert.Equal(1_000_000, histogram.Count);
        Assert.InRange(FrameAgeHistogram.BucketCount, 1000, 4000);
        Array.Sort(ages);
        foreach (var p in new[] { 0.01, 0.5, 0.9, 0.99, 0.999 })
        {
            var exact = Statistics.Percentile(ages, p);
            var estimate = histogram.Percentile(p);
            Assert.True(Math.Abs(estimate - exact) <= 0.005 * exact, $"p{p * 100}: {estimate} vs {exact}");
        }
        Assert.Equal(ages[^1], histogram.Percentile(1));
        Assert.Equal(0, new FrameAgeHistogram().Percentile(0.5));
    }

    [Fact]
    public async Task RunAsync_RealVideo_ReportsPercentilesOfEveryFrameFromTheHistogram()
    {
        using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions());
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 }, 8, NullLogger.Instance);
        var sink = new FramePipelineTests.CollectingSink();
        using var pipeline = new FramePipeline(source, embedder, [sink], new PipelineOptions { BatchSize = 8 }, NullLogger.Instance);

        var report = await pipeline.RunAsync(CancellationToken.None);

        Assert.Equal(50, pipeline.FrameAges.Count);
        var exact = sink.Results.Select(r => r.AgeMs).Order().ToArray();
        Assert.True(Math.Abs(report.FrameAgeP50Ms - Statistics.Percentile(exact, 0.5)) <= 0.005 * Statistics.Percentile(exact, 0.5) + 0.1,
            $"p50 {report.FrameAgeP50Ms} vs {Statistics.Percentile(exact, 0.5)}");
        Assert.True(Math.Abs(report.FrameAgeP99Ms - Statistics.Percentile(exact, 0.99)) <= 0.005 * Statistics.Percentile(exact, 0.99) + 0.1,
            $"p99 {report.FrameAgeP99Ms} vs {Statistics.Percentile(exact, 0.99)}");
    }
}
