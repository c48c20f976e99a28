using System.Diagnostics;
using Edge.Models;
using Edge.Pipeline.Tracking;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Pipeline.Tests.Tracking;

/// <summary>
/// The tracker's and zones' cost beside the frame CNN's, measured in one run and printed as a ratio (speed is not
/// asserted: shared machines vary); what is asserted is that identities held while measuring.
/// </summary>
public sealed class TrackingBenchmarkTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Run_TenPeople_EveryIdentityKeptAndCostPrintedAgainstTheCnn()
    {
        var cost = TrackingBenchmark.Run(tracks: 10, frames: 2_000);

        Assert.Equal((10L, 10), (cost.Confirmed, cost.ActiveAtEnd));

        var cnnMs = CnnMsPerFrame();
        output.WriteLine($"tracker {cost.TrackerUsPerFrame:0.0} µs + zones {cost.ZonesUsPerFrame:0.0} µs per frame at {cost.Tracks} tracks; " +
            $"frame CNN {cnnMs:0.0} ms per frame (batch 8); ratio {cost.TotalUsPerFrame / 1000 / cnnMs:P2}");
    }

    private static double CnnMsPerFrame()
    {
        using var capture = new VideoCapture(TestData.VtestShort);
        var frames = new List<Mat>();
        try
        {
            for (var i = 0; i < 8; i++)
            {
                var frame = new Mat();
                frames.Add(frame);
                capture.Read(frame);
            }
            using var embedder = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 }, 8, NullLogger.Instance);
            embedder.Embed(frames);
            var began = Stopwatch.GetTimestamp();
            for (var i = 0; i < 3; i++)
            {
                embedder.Embed(frames);
            }
            return Stopwatch.GetElapsedTime(began).TotalMilliseconds / 24;
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }
}
