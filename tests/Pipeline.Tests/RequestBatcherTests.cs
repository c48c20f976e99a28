using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Pipeline.Tests;

/// <summary>One failing input in a batch that several streams share fails only its own request.</summary>
public sealed class RequestBatcherTests
{
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };

    [Fact]
    public async Task SubmitAsync_OneBadRequestInABatch_OnlyItFailsAndTheOthersAreAnswered()
    {
        // Squares its items; a negative item makes the whole call throw, as a model does for one bad input.
        await using var batcher = new RequestBatcher<int, int>(16, TimeSpan.FromMilliseconds(300),
            items => items.Any(i => i < 0) ? throw new ArgumentException("negative input") : [.. items.Select(i => i * i)]);
        var good1 = batcher.SubmitAsync([1, 2], CancellationToken.None);
        var bad = batcher.SubmitAsync([3, -4], CancellationToken.None);
        var good2 = batcher.SubmitAsync([5], CancellationToken.None);

        Assert.Equal(new[] { 1, 4 }, await good1);
        Assert.Equal(new[] { 25 }, await good2);
        var error = await Assert.ThrowsAsync<ArgumentException>(() => bad);
        Assert.Equal("negative input", error.Message);
        Assert.Equal(1, batcher.Retried);
        // The three requests went out as one call that failed, then alone: the two good ones were answered.
        Assert.Equal(2, batcher.Calls);
        Assert.Equal(3, batcher.Items);
    }

    [Fact]
    public async Task EmbedAsync_OneStreamSendsAGreyFrame_TheOtherStreamsOfTheBatchGetTheirEmbeddings()
    {
        var frames = new List<Mat>();
        using var capture = new VideoCapture(TestData.VtestShort);
        for (var i = 0; i < 2; i++)
        {
            var frame = new Mat();
            Assert.True(capture.Read(frame), "frame decodes");
            frames.Add(frame);
        }
        using var grey = new Mat();
        Cv2.CvtColor(frames[0], grey, ColorConversionCodes.BGR2GRAY);
        try
        {
            float[] expected;
            using (var direct = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance))
            {
                expected = direct.Embed(frames).ToArray();
            }
            // A long batch window: the three requests of three "streams" share one call.
            await using var shared = new SharedEmbedder(FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance), windowMs: 300);
            var first = shared.EmbedAsync([frames[0]], CancellationToken.None).AsTask();
            var broken = shared.EmbedAsync([grey], CancellationToken.None).AsTask();
            var second = shared.EmbedAsync([frames[1]], CancellationToken.None).AsTask();

            var size = shared.EmbeddingSize;
            var a = await first;
            var b = await second;
            for (var j = 0; j < size; j++)
            {
                Assert.True(Math.Abs(expected[j] - a[j]) < 1e-4f, $"first stream, value {j}");
                Assert.True(Math.Abs(expected[size + j] - b[j]) < 1e-4f, $"second stream, value {j}");
            }
            var error = await Assert.ThrowsAsync<ArgumentException>(() => broken);
            Assert.Contains("8-bit with 3 channels", error.Message, StringComparison.Ordinal);
            Assert.Equal(1, shared.Retried);
            Assert.Equal(2, shared.Frames);
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }
}
