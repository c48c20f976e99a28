using Edge.Models.Onnx;
using Edge.Tests;
using Edge.Training.Onnx;
using Microsoft.ML.OnnxRuntime;
using OpenCvSharp;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Edge.Training.Tests;

/// <summary>
/// Every exported network run by ONNX Runtime equals TorchSharp's eval output within 1e-4 (max abs), on random
/// inputs and on real ones, and passes onnx.checker.
/// </summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class ExportParityTests : IDisposable
{
    private const float Tolerance = 1e-4f;
    private readonly string _folder = TestData.NewTempFolder();
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public ExportParityTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        _output = output;
        TorchRuntime.Initialize(threads: 2, seed: 3);
    }

    [Fact]
    public void ImageCnn_RandomAndRealImages_OnnxMatchesTorch()
    {
        var network = Networks.ImageCnn(3, 32, 32, 5);
        WarmBatchNorm(network, [16, 3, 32, 32]);
        var norm = new ImageClassifierTrainer.Normalization(1 / 255f, [0.4f, 0.45f, 0.5f], [0.25f, 0.2f, 0.3f]);
        var path = Save(TorchOnnxExporter.ExportImageNetwork(network, new TorchOnnxExporter.ImageInput(32, 32, 3, norm.Scale, norm.Mean, norm.Std), "cnn", softmax: false), "cnn.onnx");

        var random = new byte[6 * 32 * 32 * 3];
        new Random(5).NextBytes(random);
        AssertImageParity(network, path, random, 6, 32, 3, norm);
        AssertImageParity(network, path, RealImages(6, 32), 6, 32, 3, norm);
    }

    [Fact]
    public void PoolingAndActivations_OnnxMatchesTorch()
    {
        var network = Sequential(
            ("conv", Conv2d(1, 4, 5, stride: 2, padding: 2, bias: false)), ("bn", BatchNorm2d(4)), ("sig", Sigmoid()),
            ("avg", AvgPool2d(2, stride: 2)), ("conv2", Conv2d(4, 8, 3, padding: 1)), ("relu", ReLU()),
            ("max", MaxPool2d(3, stride: 1, padding: 1)), ("gap", AdaptiveAvgPool2d(1)), ("flat", Flatten()),
            ("drop", Dropout(0.5)), ("fc", Linear(8, 3)), ("soft", Softmax(1)));
        WarmBatchNorm(network, [8, 1, 28, 28]);
        var norm = new ImageClassifierTrainer.Normalization(1 / 255f, [0.3f], [0.35f]);
        var path = Save(TorchOnnxExporter.ExportImageNetwork(network, new TorchOnnxExporter.ImageInput(28, 28, 1, norm.Scale, norm.Mean, norm.Std), "pools", softmax: false), "pools.onnx");
        var random = new byte[4 * 28 * 28];
        new Random(9).NextBytes(random);
        AssertImageParity(network, path, random, 4, 28, 1, norm);
    }

    [Fact]
    public void EmbeddingHead_OnnxMatchesTorch()
    {
        var head = Networks.EmbeddingHead(512, 4);
        var path = Save(TorchOnnxExporter.ExportVectorNetwork(head, 512, "head", softmax: true), "head.onnx");
        head.eval();
        using var x = randn(7, 512);
        using var expected = functional.softmax(head.call(x), 1);
        AssertParity(path, "features", x, expected);
    }

    [Theory]
    [InlineData(RecurrentCell.Gru, 1, 0f)]
    [InlineData(RecurrentCell.Gru, 2, 0f)]
    [InlineData(RecurrentCell.Lstm, 1, 0f)]
    [InlineData(RecurrentCell.Lstm, 2, 0f)]
    [InlineData(RecurrentCell.Gru, 1, 3.5f)]
    [InlineData(RecurrentCell.Lstm, 2, 3.5f)]
    public void ActivitySequence_OnnxMatchesTorch(RecurrentCell cell, int layers, float motionScale)
    {
        using var network = new SequenceNetwork(cell, 16, 12, layers, 5, motionScale);
        network.eval();
        var (mean, std) = (Enumerable.Range(0, 16).Select(i => i * 0.1f).ToArray(), Enumerable.Range(0, 16).Select(i => 0.5f + i * 0.05f).ToArray());
        var path = Save(TorchOnnxExporter.ExportSequence(network, 8, mean, std, $"{cell}{layers}m{motionScale}", anomaly: null), $"{cell}{layers}m{motionScale}.onnx");
        using var x = randn(3, 8, 16).mul(2);
        using var standardised = x.sub(tensor(mean)).div(tensor(std));
        using var expected = functional.softmax(network.call(standardised), 1);
        AssertParity(path, "windows", x, expected);
    }

    [Theory]
    [InlineData(RecurrentCell.Gru)]
    [InlineData(RecurrentCell.Lstm)]
    public void AnomalySequence_ScoreIsTheTorchScore(RecurrentCell cell)
    {
        using var network = new SequenceNetwork(cell, 16, 12, 2, 16);
        network.eval();
        var (mean, std) = (Enumerable.Range(0, 16).Select(i => -0.2f + i * 0.03f).ToArray(), Enumerable.Range(0, 16).Select(i => 0.3f + i * 0.1f).ToArray());
        var scoring = new AnomalyScore(ErrorMean: 0.8f, ErrorStd: 0.3f, MotionMedian: 0.4f, MotionMean: 0.25f, MotionStd: 0.2f);
        var path = Save(TorchOnnxExporter.ExportSequence(network, 8, mean, std, $"anomaly-{cell}", scoring), $"anomaly-{cell}.onnx");
        using var x = randn(4, 9, 16);
        // The last window is frozen: its newest frame repeats the one before (the motion term's floor).
        x[3, 8] = x[3, 7].clone();
        using var expected = scoring.Score(network, x, mean, std);
        AssertParity(path, "windows", x, expected);
    }

    private static void WarmBatchNorm(Sequential network, long[] shape)
    {
        // Train-mode passes give BatchNorm running statistics that are not the identity.
        network.train();
        using (no_grad())
        {
            for (var i = 0; i < 5; i++)
            {
                using var x = rand(shape).mul(3).add(0.5);
                network.call(x).Dispose();
            }
        }
        network.eval();
    }

    private void AssertImageParity(Sequential network, string path, byte[] pixels, int count, int size, int channels, ImageClassifierTrainer.Normalization norm)
    {
        var shape = new ImageClassifierTrainer.Data(pixels, new long[count], count, size, size, channels);
        network.eval();
        using var input = ImageClassifierTrainer.ToInput(pixels, count, shape, norm);
        using var expected = network.call(input);
        using var session = new InferenceSession(path);
        using var value = OrtValue.CreateTensorValueFromMemory(pixels, [count, size, size, channels]);
        using var results = session.Run(new RunOptions(), ["images"], [value], ["scores"]);
        Compare(path, results[0].GetTensorDataAsSpan<float>().ToArray(), expected);
    }

    private void AssertParity(string path, string inputName, Tensor x, Tensor expected)
    {
        using var session = new InferenceSession(path);
        var values = x.data<float>().ToArray();
        using var value = OrtValue.CreateTensorValueFromMemory(values, x.shape);
        using var results = session.Run(new RunOptions(), [inputName], [value], session.OutputNames);
        Compare(path, results[0].GetTensorDataAsSpan<float>().ToArray(), expected);
    }

    private void Compare(string path, float[] actual, Tensor expected)
    {
        var reference = expected.detach().contiguous().data<float>().ToArray();
        Assert.Equal(reference.Length, actual.Length);
        var maxDiff = reference.Zip(actual).Max(p => Math.Abs(p.First - p.Second));
        _output.WriteLine($"{Path.GetFileName(path)}: max abs difference {maxDiff:E2} over {reference.Length} values");
        Assert.True(maxDiff <= Tolerance, $"{path}: max abs difference {maxDiff}");
        Assert.Null(OnnxChecker.Check(path));
    }

    private string Save(OnnxGraphBuilder builder, string name)
    {
        var path = Path.Combine(_folder, name);
        builder.Save(path);
        return path;
    }

    /// <summary>Real frames from vtest.avi, resized to size×size BGR.</summary>
    private static byte[] RealImages(int count, int size)
    {
        using var capture = new VideoCapture(TestData.VtestShort);
        using var frame = new Mat();
        using var small = new Mat();
        var pixels = new byte[count * size * size * 3];
        for (var i = 0; i < count && capture.Read(frame); i++)
        {
            Cv2.Resize(frame, small, new OpenCvSharp.Size(size, size), interpolation: InterpolationFlags.Area);
            small.GetArray(out Vec3b[] data);
            for (var j = 0; j < data.Length; j++)
            {
                var offset = (i * size * size + j) * 3;
                (pixels[offset], pixels[offset + 1], pixels[offset + 2]) = (data[j].Item0, data[j].Item1, data[j].Item2);
            }
        }
        return pixels;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
