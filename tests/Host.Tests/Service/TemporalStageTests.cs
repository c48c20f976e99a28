using Edge.Models;
using Edge.Pipeline;
using Edge.Tests;
using Edge.Training;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Host.Tests.Service;

/// <summary>
/// The temporal stage on a real GRU trained here on vtest embeddings: the ring holds exactly the newest window, and a
/// model shared by several streams batches their windows without changing a score.
/// </summary>
public sealed class TemporalStageTests : IDisposable
{
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public async Task Analyzers_OwnAndSharedModel_ScoreTheNewestWindowAndShareBatches()
    {
        var embeddings = Embed(TestData.VtestShort, 50);
        var path = TrainAnomalyModel(embeddings);
        using var direct = SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance);
        var frames = direct.InputFrames;
        var calibration = direct.Manifest.Anomaly!;

        // Expected: the model run on frames [i - T, i] for every frame i that has a full window.
        var expected = new double?[50];
        for (var i = frames - 1; i < 50; i++)
        {
            var window = embeddings.AsSpan((i - frames + 1) * 512, frames * 512).ToArray();
            expected[i] = calibration.Relative(direct.Run(window, 1)[0]);
        }

        var own = new TemporalAnalyzer(direct, null);
        Assert.Equal(frames, own.RingSize);
        for (var i = 0; i < 50; i++)
        {
            var analysis = await own.AnalyzeAsync(Result("a", i, embeddings), CancellationToken.None);
            AssertScore(expected[i], analysis.AnomalyScore, i);
        }
        Assert.Equal(own.RingSize, frames); // the ring never grows past one window

        // Three streams on one shared session, concurrently: the same scores, in fewer model calls than windows.
        await using var shared = new SharedSequenceModel(SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance), maxWindows: 16, windowMs: 20);
        var streams = new[] { "s1", "s2", "s3" };
        await Task.WhenAll(streams.Select(stream => Task.Run(async () =>
        {
            var analyzer = new TemporalAnalyzer(shared, null);
            for (var i = 0; i < 50; i++)
            {
                var analysis = await analyzer.AnalyzeAsync(Result(stream, i, embeddings), CancellationToken.None);
                AssertScore(expected[i], analysis.AnomalyScore, i);
            }
        })));
        Assert.Equal(3 * (50 - frames + 1), shared.Windows);
        Assert.True(shared.Calls < shared.Windows, $"{shared.Calls} calls for {shared.Windows} windows: not batched across streams");

        // More windows in one request than a call takes (many tracks due at one frame): in parts, the same scores.
        await using var small = new SharedSequenceModel(SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance), maxWindows: 4, windowMs: 1);
        var many = Enumerable.Range(frames - 1, 10).SelectMany(i => embeddings.AsSpan((i - frames + 1) * 512, frames * 512).ToArray()).ToArray();
        var scores = await small.RunAsync(many, 10, CancellationToken.None);
        Assert.Equal(10, scores.Length);
        Assert.True(small.Calls >= 3, $"{small.Calls} calls for 10 windows of at most 4");
        for (var k = 0; k < 10; k++)
        {
            AssertScore(expected[frames - 1 + k], (float)calibration.Relative(scores[k]), frames - 1 + k);
        }
    }

    private static void AssertScore(double? expected, float? actual, int frame)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }
        Assert.NotNull(actual);
        Assert.True(Math.Abs(expected.Value - actual.Value) < 1e-4 * Math.Max(1, Math.Abs(expected.Value)), $"frame {frame}: {actual} vs {expected}");
    }

    private static FrameResult Result(string stream, int index, float[] embeddings) =>
        new(stream, index, index * 100.0, embeddings.AsSpan(index * 512, 512).ToArray(), 0, 0);

    private string TrainAnomalyModel(float[] embeddings)
    {
        TorchRuntime.Initialize(threads: 2, seed: 3);
        var settings = new SequenceTrainer.Settings(Window: 4, Stride: 1, RecurrentCell.Gru, Hidden: 16);
        var trainer = new SequenceTrainer(new TrainOptions { Epochs = 3, BatchSize = 16, ValidationFraction = 0.3 });
        var result = trainer.TrainAnomaly([new SequenceTrainer.Sequence("vtest", embeddings, 50, -1)], settings, null, CancellationToken.None);
        var path = Path.Combine(_folder, "anomaly.onnx");
        SequenceExport.Write(result, settings, [], path, "test");
        result.Network.Dispose();
        return path;
    }

    private static float[] Embed(string video, int count)
    {
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 10, NullLogger.Instance);
        using var capture = new VideoCapture(video);
        var values = new List<float>();
        var frames = new List<Mat>();
        try
        {
            while (values.Count < count * 512)
            {
                var frame = new Mat();
                Assert.True(capture.Read(frame), "frame decodes");
                frames.Add(frame);
                if (frames.Count == 10)
                {
                    values.AddRange(embedder.Embed(frames).ToArray());
                    frames.ForEach(f => f.Dispose());
                    frames.Clear();
                }
            }
        }
        finally
        {
            frames.ForEach(f => f.Dispose());
        }
        return [.. values];
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
