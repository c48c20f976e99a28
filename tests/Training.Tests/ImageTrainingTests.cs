using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Training.Tests;

/// <summary>Training on small real subsets (CI has 2 cores): loss falls, a floor is reached, the export serves the same accuracy.</summary>
[Collection(TorchGlobalStateCollection.Name)]
public sealed class ImageTrainingTests : IDisposable
{
    private const string FashionMnist = "/usr/share/datasets/fashion-mnist";
    private readonly string _folder = TestData.NewTempFolder();
    private readonly Xunit.Abstractions.ITestOutputHelper _output;

    public ImageTrainingTests(Xunit.Abstractions.ITestOutputHelper output)
    {
        _output = output;
        TorchRuntime.Initialize(threads: 2, seed: 1);
    }

    private static ImageClassifierTrainer.Data Fashion(string set, int count)
    {
        var images = IdxImages.Load(Path.Combine(FashionMnist, $"{set}-images-idx3-ubyte.gz"), Path.Combine(FashionMnist, $"{set}-labels-idx1-ubyte.gz")).Take(count);
        return new(images.Pixels, [.. images.Labels.Select(l => (long)l)], images.Count, images.Rows, images.Columns, 1);
    }

    [Fact]
    public void Train_OneBatch_LossFalls()
    {
        var data = Fashion("train", 64);
        var trainer = new ImageClassifierTrainer(new TrainOptions { Epochs = 25, BatchSize = 64, Patience = 100, ValidationFraction = 0.05, LearningRate = 2e-3 });
        var result = trainer.Train(data, 10, null, null, CancellationToken.None);
        using var network = result.Network;
        var first = result.Epochs[0].TrainLoss;
        var last = result.Epochs[^1].TrainLoss;
        _output.WriteLine($"one batch: loss {first:0.000} -> {last:0.000}");
        Assert.True(last < first / 4, $"loss {first} -> {last}");
    }

    [Fact]
    public void Train_FashionMnistSubset_ReachesFloorAndExportServesTheSameAccuracy()
    {
        var train = Fashion("train", 2000);
        var test = Fashion("t10k", 500);
        var trainer = new ImageClassifierTrainer(new TrainOptions { Epochs = 3, BatchSize = 64, Seed = 1 });
        var result = trainer.Train(train, 10, null, null, CancellationToken.None);
        using var network = result.Network;
        var (_, accuracy) = ImageClassifierTrainer.Evaluate(network, test, [.. Enumerable.Range(0, test.Count)], result.Normalization);

        var path = Path.Combine(_folder, "fashion.onnx");
        var manifest = ClassifierExport.Write(network, train, result.Normalization, IdxImages.FashionMnistLabels, path, "test");
        Assert.Null(OnnxChecker.Check(path));
        using var classifier = ImageClassifier.Open(path, new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 }, NullLogger.Instance);
        var probabilities = classifier.Classify(test.Pixels, test.Count);
        var correct = Enumerable.Range(0, test.Count).Count(i => ArgMax(probabilities.AsSpan(i * 10, 10)) == test.Labels[i]);
        var onnxAccuracy = correct / (double)test.Count;

        _output.WriteLine($"2000 images, 3 epochs: test accuracy {accuracy:P1} (TorchSharp), {onnxAccuracy:P1} (ONNX Runtime)");
        Assert.True(accuracy >= 0.75, $"test accuracy {accuracy}");
        Assert.Equal(accuracy, onnxAccuracy, 3);
        Assert.Equal(("GRAY", 28, "images"), (manifest.ChannelOrder, manifest.InputWidth, manifest.InputName));
        Assert.Equal(1f, probabilities.AsSpan(0, 10).ToArray().Sum(), 4);
    }

    [Fact]
    public void ImageFolder_RealFramesWithCorruptAndOddSizedFiles_LoadsSkipsAndResizes()
    {
        var root = Path.Combine(_folder, "classes");
        WriteFrames(TestData.VtestShort, Path.Combine(root, "street"), 12, 64);
        WriteFrames(TestData.Cup, Path.Combine(root, "cup"), 10, 48);
        File.WriteAllBytes(Path.Combine(root, "cup", "broken.png"), [0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

        var log = new ListLogger();
        var loaded = ImageFolderDataset.Load(root, 32, 32, grayscale: false, log);

        Assert.Equal(["cup", "street"], loaded.Labels);
        Assert.Equal(22, loaded.Data.Count);
        Assert.Equal(1, loaded.Skipped);
        Assert.Equal(22 * 32 * 32 * 3, loaded.Data.Pixels.Length);
        Assert.Equal(10, loaded.Data.Labels.Count(l => l == 0));
        Assert.Single(log.Entries, e => e.Message.Contains("are resized to 32x32", StringComparison.Ordinal));
        Assert.Single(log.Entries, e => e.Message.Contains("broken.png", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("missing", "dataset folder not found")]
    [InlineData("empty", "no images in")]
    [InlineData("one-class", "only one class ('street')")]
    public void ImageFolder_Unusable_ClearError(string kind, string message)
    {
        var root = Path.Combine(_folder, kind);
        if (kind != "missing")
        {
            Directory.CreateDirectory(Path.Combine(root, "street"));
        }
        if (kind == "one-class")
        {
            WriteFrames(TestData.VtestShort, Path.Combine(root, "street"), 3, 32);
        }
        var error = Assert.Throws<TrainingDataException>(() => ImageFolderDataset.Load(root, 32, 32, false, NullLogger.Instance));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    private static void WriteFrames(string video, string folder, int count, int size)
    {
        Directory.CreateDirectory(folder);
        using var capture = new VideoCapture(video);
        using var frame = new Mat();
        using var small = new Mat();
        for (var i = 0; i < count && capture.Read(frame); i++)
        {
            Cv2.Resize(frame, small, new OpenCvSharp.Size(size, size));
            Cv2.ImWrite(Path.Combine(folder, $"{i:D3}.png"), small);
        }
    }

    private static int ArgMax(ReadOnlySpan<float> row)
    {
        var best = 0;
        for (var i = 1; i < row.Length; i++)
        {
            if (row[i] > row[best])
            {
                best = i;
            }
        }
        return best;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
