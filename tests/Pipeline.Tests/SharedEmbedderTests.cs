using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Pipeline.Tests;

/// <summary>One frame model session for several streams: requests are merged into batches and answered exactly.</summary>
public sealed class SharedEmbedderTests
{
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };

    [Fact]
    public async Task EmbedAsync_ConcurrentStreams_MergedIntoFewerCallsWithTheSameEmbeddings()
    {
        var frames = ReadFrames(TestData.VtestShort, 12);
        try
        {
            float[] expected;
            using (var direct = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 12, NullLogger.Instance))
            {
                expected = direct.Embed(frames).ToArray();
            }
            await using var shared = new SharedEmbedder(FrameEmbedder.Open(TestData.FrameModel, s_cpu, 12, NullLogger.Instance), windowMs: 200);
            // Six "streams" ask at once with two frames each.
            var requests = Enumerable.Range(0, 6).Select(i => shared.EmbedAsync(frames.GetRange(i * 2, 2), CancellationToken.None).AsTask()).ToList();
            var results = await Task.WhenAll(requests);

            var size = shared.EmbeddingSize;
            for (var i = 0; i < 6; i++)
            {
                Assert.Equal(2 * size, results[i].Length);
                var want = expected.AsSpan(i * 2 * size, 2 * size);
                for (var j = 0; j < want.Length; j++)
                {
                    Assert.True(Math.Abs(want[j] - results[i][j]) < 1e-4f, $"request {i}, value {j}: {results[i][j]} vs {want[j]}");
                }
            }
            Assert.Equal(12, shared.Frames);
            Assert.True(shared.Calls < 6, $"{shared.Calls} model calls for 6 requests: they were not batched");
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task EmbedAsync_CallersReuseTheirListAtOnce_EveryAnswerStillRight()
    {
        var frames = ReadFrames(TestData.VtestShort, 4);
        try
        {
            float[] expected;
            using (var direct = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance))
            {
                expected = direct.Embed(frames).ToArray();
            }
            await using var shared = new SharedEmbedder(FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance), windowMs: 5);
            var size = shared.EmbeddingSize;
            // Like a pipeline's CNN stage: one list per caller, cleared and refilled as soon as an answer arrives, with a
            // batch size that changes between requests.
            await Task.WhenAll(Enumerable.Range(0, 4).Select(caller => Task.Run(async () =>
            {
                var images = new List<Mat>();
                for (var round = 0; round < 12; round++)
                {
                    var count = 1 + (caller + round) % 2;
                    images.Clear();
                    images.AddRange(frames.GetRange(caller % 3, count));
                    var result = await shared.EmbedAsync(images, CancellationToken.None);
                    Assert.Equal(count * size, result.Length);
                    Assert.True(Math.Abs(result[0] - expected[caller % 3 * size]) < 1e-4f, $"caller {caller}, round {round}");
                }
            })));
            Assert.Equal(Enumerable.Range(0, 4).Sum(c => Enumerable.Range(0, 12).Sum(r => 1 + (c + r) % 2)), shared.Frames);
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }

    [Fact]
    public async Task EmbedAsync_CancelledBeforeItRuns_EndsCancelledAndOthersAreAnswered()
    {
        var frames = ReadFrames(TestData.VtestShort, 2);
        try
        {
            await using var shared = new SharedEmbedder(FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance), windowMs: 50);
            using var cancelled = new CancellationTokenSource();
            await cancelled.CancelAsync();
            var gone = shared.EmbedAsync(frames.GetRange(0, 1), cancelled.Token).AsTask();
            var kept = shared.EmbedAsync(frames.GetRange(1, 1), CancellationToken.None).AsTask();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => gone);
            Assert.Equal(shared.EmbeddingSize, (await kept).Length);
            Assert.Equal(1, shared.Frames);
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
    }

    private static List<Mat> ReadFrames(string video, int count)
    {
        using var capture = new VideoCapture(video);
        var frames = new List<Mat>();
        for (var i = 0; i < count; i++)
        {
            var frame = new Mat();
            Assert.True(capture.Read(frame), "frame decodes");
            frames.Add(frame);
        }
        return frames;
    }
}
