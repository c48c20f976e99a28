using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Training.Tests;

/// <summary>
/// Sequence models trained on real embeddings from the frame model (the code the pipeline runs), exported, and served
/// by Models.
/// </summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class SequenceTrainingTests : IDisposable
{
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };
    private readonly string _folder = TestData.NewTempFolder();
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public SequenceTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        _output = output;
        TorchRuntime.Initialize(threads: 2, seed: 7);
    }

    [Fact]
    public void Anomaly_TrainedOnVtest_ServedByModelsScoresASpliceHigher()
    {
        var settings = new SequenceTrainer.Settings(Window: 8, Stride: 2, RecurrentCell.Gru, Hidden: 64);
        var normal = Embed(TestData.Vtest, 0, 240);
        var trainer = new SequenceTrainer(new TrainOptions { Epochs = 25, BatchSize = 32, Patience = 5, ValidationFraction = 0.2, LearningRate = 2e-3 });
        var result = trainer.TrainAnomaly([new SequenceTrainer.Sequence("vtest", normal, 240, -1)], settings, null, CancellationToken.None);
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss, "training loss falls");
        var path = Path.Combine(_folder, "anomaly.onnx");
        var manifest = SequenceExport.Write(result, settings, [], path, "test");
        result.Network.Dispose();
        Assert.Null(OnnxChecker.Check(path));

        using var model = SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance);
        Assert.True(model.IsAnomaly);
        Assert.Equal(9, model.InputFrames);
        // Later vtest footage (normal) against the same footage with 3 cup.mp4 frames spliced in at the predicted frame.
        var later = Embed(TestData.Vtest, 400, 45);
        var cup = Embed(TestData.Cup, 100, 5);
        var normalScores = Score(model, Windows(later, 9, 5));
        var spliced = later.ToArray();
        var spliceWindows = new List<float[]>();
        for (var start = 0; start + 9 <= 45; start += 5)
        {
            var window = spliced.AsSpan(start * 512, 9 * 512).ToArray();
            cup.AsSpan(0, 512).CopyTo(window.AsSpan(8 * 512));
            spliceWindows.Add(window);
        }
        var spliceScores = Score(model, spliceWindows);
        var calibration = manifest.Anomaly!;
        _output.WriteLine($"calibration: mean {calibration.Mean:0.000}, std {calibration.Std:0.000}, p99 {calibration.Threshold:0.000} over {calibration.Windows} windows");
        _output.WriteLine($"normal later vtest: max {normalScores.Max():0.000}; spliced: min {spliceScores.Min():0.000}");
        Assert.True(spliceScores.Min() > normalScores.Max(), "every spliced window scores above every normal one");
        Assert.True(spliceScores.Min() > calibration.Threshold, "splices cross the calibrated threshold");
    }

    [Fact]
    public void Activity_ClipsOfThreeSources_ServedByModelsClassifiesHeldOutWindows()
    {
        var settings = new SequenceTrainer.Settings(Window: 6, Stride: 3, RecurrentCell.Lstm, Hidden: 32);
        var clips = new List<SequenceTrainer.Sequence>
        {
            new("street", Embed(TestData.Vtest, 0, 60), 60, 0),
            new("cup", Embed(TestData.Cup, 0, 60), 60, 1),
            new("box", Embed(TestData.Require("box.mp4"), 0, 60), 60, 2),
        };
        var trainer = new SequenceTrainer(new TrainOptions { Epochs = 15, BatchSize = 16, Patience = 5, ValidationFraction = 0.2, LearningRate = 3e-3 });
        var result = trainer.TrainActivity(clips, 3, settings, null, CancellationToken.None);
        var path = Path.Combine(_folder, "activity.onnx");
        SequenceExport.Write(result, settings, ["street", "cup", "box"], path, "test");
        result.Network.Dispose();

        using var model = SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance);
        var later = new[] { (Embed(TestData.Vtest, 300, 12), 0), (Embed(TestData.Cup, 150, 12), 1), (Embed(TestData.Require("box.mp4"), 300, 12), 2) };
        foreach (var (embeddings, label) in later)
        {
            var probabilities = model.Run(embeddings.AsSpan(0, 6 * 512).ToArray(), 1);
            Assert.Equal(label, Array.IndexOf(probabilities, probabilities.Max()));
        }
        _output.WriteLine($"activity validation accuracy {result.ValidationAccuracy:P0}");
    }

    [Fact]
    public void Open_FeatureSizeOtherThanTheFrameModels_IsRejected()
    {
        var settings = new SequenceTrainer.Settings(Window: 4, Stride: 2, RecurrentCell.Gru, Hidden: 8);
        var random = new Random(3);
        var values = Enumerable.Range(0, 40 * 16).Select(_ => (float)random.NextDouble()).ToArray();
        var trainer = new SequenceTrainer(new TrainOptions { Epochs = 1, BatchSize = 8, ValidationFraction = 0.3 });
        var result = trainer.TrainAnomaly([new SequenceTrainer.Sequence("random", values, 40, -1)], settings, null, CancellationToken.None);
        var path = Path.Combine(_folder, "small.onnx");
        SequenceExport.Write(result, settings, [], path, "test");
        result.Network.Dispose();

        var error = Assert.Throws<ModelException>(() => SequenceModel.Open(path, 512, s_cpu, NullLogger.Instance));
        Assert.Equal(ModelError.Invalid, error.Error);
        Assert.Contains("reads 16-d features but the frame model gives 512-d", error.Message, StringComparison.Ordinal);
    }

    private static float[] Score(SequenceModel model, List<float[]> windows) =>
        model.Run([.. windows.SelectMany(w => w)], windows.Count);

    private static List<float[]> Windows(float[] embeddings, int length, int stride)
    {
        var rows = embeddings.Length / 512;
        var windows = new List<float[]>();
        for (var start = 0; start + length <= rows; start += stride)
        {
            windows.Add(embeddings.AsSpan(start * 512, length * 512).ToArray());
        }
        return windows;
    }

    /// <summary>Embeddings of <paramref name="count"/> frames from <paramref name="first"/> on, by the frame model.</summary>
    private static float[] Embed(string video, int first, int count)
    {
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 8, NullLogger.Instance);
        using var capture = new VideoCapture(video);
        capture.Set(VideoCaptureProperties.PosFrames, first);
        var frames = new List<Mat>();
        var values = new List<float>();
        using var frame = new Mat();
        while (values.Count < count * 512 && capture.Read(frame))
        {
            frames.Add(frame.Clone());
            if (frames.Count == 8 || values.Count + frames.Count * 512 == count * 512)
            {
                values.AddRange(embedder.Embed(frames).ToArray());
                frames.ForEach(f => f.Dispose());
                frames.Clear();
            }
        }
        Assert.Equal(count * 512, values.Count);
        return [.. values];
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
