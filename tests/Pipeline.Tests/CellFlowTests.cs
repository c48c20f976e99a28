using Edge.Models.GridAnomaly;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Pipeline.Tests;

/// <summary>The cells' optical flow on real footage: how fast things move, not how many move.</summary>
public sealed class CellFlowTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static List<Mat> Frames(int count)
    {
        using var capture = new VideoCapture(TestData.Vtest);
        var frames = new List<Mat>();
        var frame = new Mat();
        while (frames.Count < count && capture.Read(frame))
        {
            frames.Add(frame);
            frame = new Mat();
        }
        frame.Dispose();
        return frames;
    }

    /// <summary>The mean flow length over moving cells of each frame after the first (NaN when fewer than 3 move).</summary>
    private static double[] MeanLengths(IEnumerable<Mat> frames)
    {
        using var flow = new CellFlow(14, 14);
        return [.. frames.Select(f => flow.Measure(f)).Skip(1).Select(v =>
        {
            var moving = Enumerable.Range(0, 196).Where(c => v[c * 2 + 1] > 0.1f).ToList();
            return moving.Count < 3 ? double.NaN : moving.Average(c => v[c * 2]);
        })];
    }

    [Fact]
    public void Measure_VtestAtThreeTimesTheSpeed_ItsWalkersMoveFurther()
    {
        var frames = Frames(91);
        try
        {
            using var flow = new CellFlow(14, 14);
            var first = flow.Measure(frames[0]);
            Assert.Equal(FlowFeatures.Size(14, 14), first.Length);
            Assert.All(first, v => Assert.Equal(0f, v));

            var normal = MeanLengths(frames.Take(31)).Where(double.IsFinite).Order().ToArray();
            var fast = MeanLengths(frames.Where((_, i) => i % 3 == 0)).Where(double.IsFinite).Order().ToArray();
            var (normalMedian, fastMedian) = (normal[normal.Length / 2], fast[fast.Length / 2]);
            output.WriteLine($"median mean flow over moving cells: {normalMedian:F2} px at 10 fps, {fastMedian:F2} px with two of three frames skipped");
            Assert.True(normal.Length >= 25 && fast.Length >= 25, $"{normal.Length} and {fast.Length} frames with moving cells");
            Assert.InRange(normalMedian, 0.3, 2.0);
            // Not quite 3: flat regions show some flow in every frame whatever the speed (CellFlow's remarks); 1.9 here.
            Assert.InRange(fastMedian / normalMedian, 1.6, 4.0);
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }
}
