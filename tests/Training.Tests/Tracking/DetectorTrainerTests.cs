using Edge.Models;
using Edge.Tests;
using Edge.Host.Commands;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Training.Tests.Tracking;

/// <summary>
/// Edge's person detector trained for a few epochs on one generated scene, exported, and served by
/// <see cref="BoxDetector"/> exactly as a YOLO export is: the export computes what TorchSharp computes, and the served
/// detector finds the scene's people well enough to track them.
/// </summary>
[Collection(SceneCollection.Name)]
public sealed class DetectorTrainerTests(SceneFixture scenes, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Train_OneScene_ExportMatchesTorchSharp_ServedDetectorFindsThePeopleItLearned()
    {
        TorchRuntime.Initialize(Environment.ProcessorCount, 1);
        var trainScene = Path.Combine(scenes.Folder, scenes.Metadata.TrainScenes[0]);
        var data = DetectorTrainer.Load([trainScene], frameStep: 1, CancellationToken.None);
        var epochs = new List<EpochReport>();
        var result = DetectorTrainer.Train(data, new TrainOptions { Epochs = 12, BatchSize = 16, LearningRate = 2e-3, Patience = 12 },
            null, new Progress<EpochReport>(epochs.Add), CancellationToken.None);
        using var network = result.Network;
        output.WriteLine(string.Join("\n", result.Epochs.Select(e => $"epoch {e.Epoch}: train {e.TrainLoss:0.000} validation {e.ValidationLoss:0.000}")));
        Assert.True(result.Epochs[^1].TrainLoss < result.Epochs[0].TrainLoss * 0.6, $"train loss {result.Epochs[0].TrainLoss:0.000} → {result.Epochs[^1].TrainLoss:0.000}");

        var folder = TestData.NewTempFolder();
        try
        {
            var path = Path.Combine(folder, "person-detector.onnx");
            DetectorTrainer.Export(network, path, "test");

            // Parity: ONNX Runtime on the graph against TorchSharp's decoding, on real frames.
            var frameBytes = DetectorTrainer.InputWidth * DetectorTrainer.InputHeight * 3;
            var plane = DetectorTrainer.InputWidth * DetectorTrainer.InputHeight;
            const int count = 3;
            var reference = DetectorTrainer.Reference(network, data.Pixels[..(count * frameBytes)], count);
            var input = new float[count * frameBytes];
            for (var i = 0; i < count; i++)
            {
                for (var p = 0; p < plane; p++)
                {
                    for (var c = 0; c < 3; c++)
                    {
                        input[i * frameBytes + c * plane + p] = data.Pixels[i * frameBytes + p * 3 + c] / 255f;
                    }
                }
            }
            using (var session = new InferenceSession(path))
            using (var value = OrtValue.CreateTensorValueFromMemory(input, [count, 3, DetectorTrainer.InputHeight, DetectorTrainer.InputWidth]))
            using (var outputs = session.Run(new RunOptions(), ["images"], [value], ["output0"]))
            {
                Assert.Equal([count, 5, 1200], outputs[0].GetTensorTypeAndShape().Shape);
                var served = outputs[0].GetTensorDataAsSpan<float>().ToArray();
                var worst = served.Zip(reference).Max(z => Math.Abs(z.First - z.Second) / Math.Max(1, Math.Abs(z.Second)));
                Assert.True(worst < 1e-4, $"export differs by {worst:E1}");
            }

            // Served as a YOLO export is: the people of the scene it learned, through the tracker.
            using var detector = BoxDetector.Open(path, new ModelOptions { Provider = ExecutionProvider.Cpu }, NullLogger.Instance);
            Assert.Equal(BoxDetector.OutputLayout.Yolo8, detector.Layout);
            Assert.Equal(["person"], detector.Labels);
            var detection = new DetectionEvaluation();
            var report = TrackingHarness.Run([trainScene],
                scene => new SceneTrackingSystem(scene, SceneTrackingSystem.DetectorBoxes(detector, 0.1f, 0.45f), detection: detection), null, null, CancellationToken.None);
            var found = detection.Report();
            output.WriteLine($"training scene: AP {found.AveragePrecision:0.000}, precision {found.Precision:0.000}, recall {found.Recall:0.000}, MOTA {report.Combined.Mota:0.000}, IDF1 {report.Combined.Idf1:0.000}");
            Assert.Equal(150, found.Frames);
            Assert.True(found.AveragePrecision > 0.5, $"AP {found.AveragePrecision:0.000}");
            Assert.True(report.Combined.Mota > 0.3, $"MOTA {report.Combined.Mota:0.000}");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
