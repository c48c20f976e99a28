using System.Text.Json;
using Edge.Models;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests;

public sealed class TrainCommandTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task TrainCnn_ImageFolderOfRealFrames_WritesModelManifestAndReport()
    {
        var data = Path.Combine(_work, "classes");
        WriteFrames(TestData.VtestShort, Path.Combine(data, "street"), 30);
        WriteFrames(TestData.Cup, Path.Combine(data, "cup"), 30);

        var result = await EdgeProcess.RunAsync(_work, ["train", "cnn", data, "--out", "models/scenes.onnx", "--epochs", "10", "--patience", "10", "--batch-size", "16", "--lr", "0.003", "--image-size", "32", "--threads", "2"]);

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("(ONNX Runtime,", result.Stdout, StringComparison.Ordinal);
        var manifest = ModelManifest.Load(Path.Combine(_work, "models", "scenes.json"));
        Assert.Equal(["cup", "street"], manifest.Labels);
        Assert.Equal(("image-classifier", "BGR", 32), (manifest.Kind, manifest.ChannelOrder, manifest.InputWidth));
        var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "models", "scenes.report.json"))).RootElement;
        Assert.Equal(report.GetProperty("testAccuracyTorch").GetDouble(), report.GetProperty("testAccuracyOnnx").GetDouble(), 3);
        Assert.True(report.GetProperty("testAccuracyOnnx").GetDouble() >= 0.9, "street and cup frames are easy to tell apart");
        Assert.Null(OnnxChecker.Check(Path.Combine(_work, "models", "scenes.onnx")));

        var evaluated = await EdgeProcess.RunAsync(_work, ["eval", "models/scenes.onnx", data, "--out", "eval"]);
        Assert.True(evaluated.ExitCode == 0, evaluated.Stderr);
        Assert.Contains("accuracy", evaluated.Stdout, StringComparison.Ordinal);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval.json"))).RootElement;
        Assert.Equal(60, eval.GetProperty("samples").GetInt32());
        Assert.True(eval.GetProperty("accuracy").GetDouble() >= 0.9);
        Assert.True(File.Exists(Path.Combine(_work, "eval", "confusion.png")));
        Assert.True(File.Exists(Path.Combine(_work, "eval", "loss.png")));
    }

    [Theory]
    [InlineData("one-class", ExitCodes.TrainingDataUnusable, "only one class")]
    [InlineData("missing", ExitCodes.TrainingDataUnusable, "dataset folder not found")]
    [InlineData("unwritable", ExitCodes.OutputNotWritable, "cannot write the model to /proc/edge/model.onnx: the folder /proc/edge cannot be written to")]
    public async Task TrainCnn_BadInput_OneLineAndExitCode(string kind, int exitCode, string message)
    {
        var data = Path.Combine(_work, "classes");
        if (kind != "missing")
        {
            WriteFrames(TestData.VtestShort, Path.Combine(data, "street"), 4);
        }
        if (kind == "unwritable")
        {
            WriteFrames(TestData.Cup, Path.Combine(data, "cup"), 4);
        }
        var output = kind == "unwritable" ? "/proc/edge/model.onnx" : "models/m.onnx";

        var result = await EdgeProcess.RunAsync(_work, ["train", "cnn", data, "--out", output, "--epochs", "1"]);

        Assert.True(exitCode == result.ExitCode, result.Stderr);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "models", "m.onnx")));
    }

    private static void WriteFrames(string video, string folder, int count)
    {
        Directory.CreateDirectory(folder);
        using var capture = new VideoCapture(video);
        using var frame = new Mat();
        for (var i = 0; i < count && capture.Read(frame); i++)
        {
            Cv2.ImWrite(Path.Combine(folder, $"{i:D3}.jpg"), frame);
        }
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}

public sealed class TrainSequenceCommandTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task TrainSequence_OnEdgeProcessOutput_ModelLoadsInModelsAndScoresThatOutput()
    {
        var processed = await EdgeProcess.RunAsync(_work, ["process", TestData.Vtest, "--max-frames", "120", "--out", "out", .. EdgeProcess.ModelArgs]);
        Assert.True(processed.ExitCode == 0, processed.Stderr);
        var embeddings = Path.Combine(_work, "out", "embeddings.npy");

        var trained = await EdgeProcess.RunAsync(_work, ["train", "sequence", embeddings, "--task", "anomaly", "--window", "8", "--stride", "2",
            "--hidden", "32", "--epochs", "5", "--out", "models/anomaly.onnx", .. EdgeProcess.ModelArgs]);

        Assert.True(trained.ExitCode == 0, trained.Stderr + trained.Stdout);
        Assert.Contains("threshold (p99)", trained.Stdout, StringComparison.Ordinal);
        var model = Path.Combine(_work, "models", "anomaly.onnx");
        using var sequence = SequenceModel.Open(model, 512, new ModelOptions { Provider = ExecutionProvider.Cpu }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        var (values, rows, _) = NpyFile.Read(embeddings);
        var windows = Enumerable.Range(0, rows - 9).Select(start => values.AsSpan(start * 512, 9 * 512).ToArray()).ToList();
        var scores = sequence.Run([.. windows.SelectMany(w => w)], windows.Count);
        Assert.Equal(rows - 9, scores.Length);
        Assert.All(scores, s => Assert.True(float.IsFinite(s)));
        // Scores are sums of standardised terms: on the normal footage the model was trained on, they average below
        // the calibrated threshold (the 99th percentile of held-out normal windows).
        var calibration = sequence.Manifest.Anomaly!;
        Assert.InRange(scores.Average(), calibration.Mean - 2 * calibration.Std, calibration.Threshold);
        Assert.Null(OnnxChecker.Check(model));

        // The temporal stage serves it in the pipeline: no score until a window is full, then one every stride.
        var scored = await EdgeProcess.RunAsync(_work, ["process", TestData.Vtest, "--max-frames", "60", "--out", "scored", "--anomaly-model", model, .. EdgeProcess.ModelArgs]);
        Assert.True(scored.ExitCode == 0, scored.Stderr);
        var analysis = File.ReadAllLines(Path.Combine(_work, "scored", "frames.jsonl"))
            .Select(l => JsonDocument.Parse(l).RootElement.GetProperty("analysis").GetProperty("anomalyScore"))
            .Select(v => v.ValueKind == JsonValueKind.Null ? (double?)null : v.GetDouble()).ToList();
        Assert.Equal(60, analysis.Count);
        Assert.All(analysis.Take(8), v => Assert.Null(v));
        Assert.All(analysis.Skip(9), v => Assert.True(v is > -10 and < 10, $"score {v}"));
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "scored", "summary.json"))).RootElement.GetProperty("analysis");
        Assert.Equal(26, summary.GetProperty("sequenceRuns").GetInt64());

        // A clip of later vtest footage with ten cup.mp4 frames spliced in at frames 30–39: an anomaly event covers them.
        var spliced = Path.Combine(_work, "spliced.avi");
        WriteSplicedClip(spliced);
        // Events start at 3x the calibrated p99 score: this model saw only 96 training windows, so its p99 is rough.
        File.WriteAllText(Path.Combine(_work, "events.json"), """{ "Events": { "AnomalyEnter": 3, "AnomalyExit": 2 } }""");
        // The event is delivered as it is found: the webhook answers; the MQTT broker is down, so that copy stays pending.
        using var broker = new Edge.Pipeline.Tests.Delivery.MosquittoBroker();
        using var receiver = new Edge.Pipeline.Tests.Delivery.WebhookReceiver((_, _) => (200, null));
        File.WriteAllText(Path.Combine(_work, "delivered.json"), $$"""
            { "Events": { "AnomalyEnter": 3, "AnomalyExit": 2 },
              "Delivery": { "OutboxPath": "state/outbox.db", "DeviceId": "test-device", "DrainTimeoutMs": 1500, "MaxBackoffMs": 500,
                "Mqtt": { "Enabled": true, "Host": "127.0.0.1", "Port": {{broker.Port}} },
                "Webhook": { "Enabled": true, "Url": "http://127.0.0.1:{{receiver.Port}}/hook/" } } }
            """);
        var detected = await EdgeProcess.RunAsync(_work, ["process", spliced, "--out", "spliced", "--config", "delivered.json", "--anomaly-model", model, .. EdgeProcess.ModelArgs]);
        Assert.True(detected.ExitCode == 0, detected.Stderr);
        var events = File.ReadAllLines(Path.Combine(_work, "spliced", "events.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        var anomaly = Assert.Single(events);
        var anomalyId = anomaly.GetProperty("id").GetString()!;
        Assert.Equal([anomalyId], receiver.Requests.Select(r => r.Id));
        Assert.Contains("delivery to webhook: 1 delivered, 0 pending", detected.Stdout, StringComparison.Ordinal);
        Assert.Contains("delivery to mqtt: 0 delivered, 1 pending", detected.Stdout, StringComparison.Ordinal);
        var delivery = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "spliced", "summary.json"))).RootElement.GetProperty("delivery");
        Assert.Equal(2, delivery.GetArrayLength());
        // The next run, with the broker up, sends what was left (this short run has no sequence model, so no events of its own).
        broker.Start();
        await using (var subscriber = await Edge.Pipeline.Tests.Delivery.EventSubscriber.ConnectAsync(broker.Port, "edge/#"))
        {
            var next = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--max-frames", "5", "--out", "next", "--config", "delivered.json", .. EdgeProcess.ModelArgs]);
            Assert.True(next.ExitCode == 0, next.Stderr);
            Assert.Contains("delivery to mqtt: 1 delivered, 0 pending", next.Stdout, StringComparison.Ordinal);
            Assert.True(await subscriber.WaitForAsync([anomalyId], TimeSpan.FromSeconds(5)));
            Assert.Equal(["edge/test-device/spliced/events"], subscriber.Topics);
        }
        using (var store = new Edge.Pipeline.Events.SqliteEventStore(Path.Combine(_work, "spliced", "events.db")))
        {
            var stored = Assert.Single(store.Query());
            Assert.Equal(anomaly.GetProperty("id").GetString(), stored.Id);
            Assert.Equal(anomaly.GetProperty("snapshot").GetString(), stored.Snapshot);
        }
        // The snapshot is the peak frame, full size.
        using (var snapshot = Cv2.ImRead(Path.Combine(_work, "spliced", anomaly.GetProperty("snapshot").GetString()!)))
        {
            Assert.Equal(new OpenCvSharp.Size(768, 576), snapshot.Size());
        }
        Assert.InRange(anomaly.GetProperty("peakFrame").GetInt64(), anomaly.GetProperty("startFrame").GetInt64(), anomaly.GetProperty("endFrame").GetInt64());
        // The clip: 20 frames of pre-roll, the event, 20 of post-roll (cut short by the end of the 70-frame clip), half size.
        using (var clip = new VideoCapture(Path.Combine(_work, "spliced", anomaly.GetProperty("clip").GetString()!)))
        {
            using var frame = new Mat();
            var frames = 0;
            while (clip.Read(frame))
            {
                Assert.Equal(new OpenCvSharp.Size(384, 288), frame.Size());
                frames++;
            }
            var start = anomaly.GetProperty("startFrame").GetInt64();
            var end = anomaly.GetProperty("endFrame").GetInt64();
            Assert.Equal(Math.Min(20, start) + (end - start + 1) + Math.Min(20, 69 - end), frames);
        }
        Assert.Empty(Directory.GetFiles(Path.Combine(_work, "spliced"), "clip-*.avi"));
        Assert.Equal("anomaly", anomaly.GetProperty("kind").GetString());
        Assert.InRange(anomaly.GetProperty("startFrame").GetInt64(), 30, 39);
        Assert.True(anomaly.GetProperty("endFrame").GetInt64() >= 39, anomaly.ToString());

        // Evaluated against ground truth for the splice, beside the frame-difference baseline.
        File.WriteAllText(Path.Combine(_work, "spliced.gt.json"),
            """{ "video": "spliced.avi", "frames": 70, "fps": 10, "anomalies": [ { "kind": "splice", "startFrame": 30, "endFrame": 39 } ] }""");
        var anomalyEval = await EdgeProcess.RunAsync(_work, ["eval", "anomaly", spliced, "--anomaly-model", model, "--config", "events.json", "--out", "eval-anomaly", .. EdgeProcess.ModelArgs]);
        Assert.True(anomalyEval.ExitCode == 0, anomalyEval.Stderr);
        var results = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval-anomaly", "eval-anomaly.json"))).RootElement.GetProperty("results");
        var learned = results.EnumerateArray().Single(r => r.GetProperty("Method").GetString() == "learned");
        Assert.True(learned.GetProperty("FrameAuc").GetDouble() > 0.9, learned.ToString());
        Assert.Equal(1.0, learned.GetProperty("Recall").GetDouble());
        Assert.Contains(results.EnumerateArray(), r => r.GetProperty("Method").GetString() == "frame difference");
        Assert.True(File.Exists(Path.Combine(_work, "eval-anomaly", "timeline.png")));

        // A ground truth of another length than the video is an error at start.
        File.WriteAllText(Path.Combine(_work, "short.gt.json"), """{ "video": "spliced.avi", "frames": 50, "fps": 10, "anomalies": [ { "kind": "splice", "startFrame": 30, "endFrame": 39 } ] }""");
        var mismatch = await EdgeProcess.RunAsync(_work, ["eval", "anomaly", spliced, "--gt", "short.gt.json", "--anomaly-model", model, "--out", "eval-mismatch", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.TrainingDataUnusable, mismatch.ExitCode);
        Assert.Contains("describes 50 frames but", mismatch.Stderr, StringComparison.Ordinal);
        Assert.Contains("(its header)", mismatch.Stderr, StringComparison.Ordinal); // found before any frame was scored
        Assert.False(Directory.Exists(Path.Combine(_work, "eval-mismatch")), "a failed evaluation leaves no folder");

        // Normal vtest windows against windows of other footage (cup.mp4): the scores must rank them apart.
        var evaluated = await EdgeProcess.RunAsync(_work, ["eval", model, embeddings, "--anomalous", TestData.Cup, "--out", "eval", .. EdgeProcess.ModelArgs]);
        Assert.True(evaluated.ExitCode == 0, evaluated.Stderr);
        var auc = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval.json"))).RootElement.GetProperty("rocAuc").GetDouble();
        Assert.True(auc > 0.9, $"ROC AUC {auc}");
        Assert.True(File.Exists(Path.Combine(_work, "eval", "roc.png")));
    }

    private static void WriteSplicedClip(string path)
    {
        using var vtest = new VideoCapture(TestData.Vtest);
        using var cup = new VideoCapture(TestData.Cup);
        vtest.Set(VideoCaptureProperties.PosFrames, 200);
        using var writer = new VideoWriter(path, FourCC.MJPG, 10, new OpenCvSharp.Size(768, 576));
        using var frame = new Mat();
        using var resized = new Mat();
        for (var i = 0; i < 70; i++)
        {
            if (i is >= 30 and < 40)
            {
                Assert.True(cup.Read(frame));
                Cv2.Resize(frame, resized, new OpenCvSharp.Size(768, 576));
                writer.Write(resized);
            }
            else
            {
                Assert.True(vtest.Read(frame));
                writer.Write(frame);
            }
        }
    }

    [Theory]
    [InlineData(false, 0, "the temporal stage runs without it")]
    [InlineData(true, ExitCodes.ModelNotFound, "anomaly model not found")]
    public async Task Process_MissingAnomalyModelInTheConfig_WarnsOrFailsAsConfigured(bool required, int exitCode, string message)
    {
        File.WriteAllText(Path.Combine(_work, "edge.json"),
            $$"""{ "Analysis": { "Required": {{(required ? "true" : "false")}}, "AnomalyModel": "models/none.onnx" } }""");
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--max-frames", "5", "--out", "out", "--config", "edge.json",
            .. EdgeProcess.ModelArgs]);
        Assert.True(exitCode == result.ExitCode, result.Stderr);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Process_MissingAnomalyModelOnTheCommandLine_FailsWhateverTheConfig()
    {
        File.WriteAllText(Path.Combine(_work, "edge.json"), """{ "Analysis": { "Required": false } }""");
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--max-frames", "5", "--out", "out", "--config", "edge.json",
            "--anomaly-model", "models/none.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.ModelNotFound, result.ExitCode);
        Assert.Contains("--anomaly-model: sequence model not found: models/none.onnx", result.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TrainSequence_FeaturesOfAnotherSize_ClearError()
    {
        var path = Path.Combine(_work, "small.npy");
        using (var writer = new NpyFile.Writer(path, 16))
        {
            for (var i = 0; i < 40; i++)
            {
                writer.Append(new float[16]);
            }
        }
        var result = await EdgeProcess.RunAsync(_work, ["train", "sequence", path, "--task", "anomaly", "--out", "models/x.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.TrainingDataUnusable, result.ExitCode);
        Assert.Contains("holds 16-d features, the frame model's manifest says 512", result.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "models", "x.onnx")));
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}

public sealed class TrainClassifierCommandTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task TrainClassifier_CropsOfRealFootage_HeadServedAfterTheFrameModel()
    {
        var data = Path.Combine(_work, "crops");
        WriteCrops(TestData.Vtest, Path.Combine(data, "street"), 24);
        WriteCrops(TestData.Cup, Path.Combine(data, "cup"), 24);

        var result = await EdgeProcess.RunAsync(_work, ["train", "classifier", data, "--out", "models/head.onnx", "--epochs", "30", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        Assert.Contains("served by ONNX Runtime after resnet18-frame", result.Stdout, StringComparison.Ordinal);
        var head = Path.Combine(_work, "models", "head.onnx");
        using var classifier = EmbeddingClassifier.Open(head, 512, null, new ModelOptions { Provider = ExecutionProvider.Cpu }, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Equal(["cup", "street"], classifier.Labels);
        Assert.Null(OnnxChecker.Check(head));

        // Chained on frames the head never saw: later footage of each source is classified as that source.
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu }, 2, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        foreach (var (video, frameIndex, label) in new[] { (TestData.Vtest, 700, 1), (TestData.Cup, 200, 0) })
        {
            using var capture = new VideoCapture(video);
            capture.Set(VideoCaptureProperties.PosFrames, frameIndex);
            using var frame = new Mat();
            Assert.True(capture.Read(frame));
            using var crop = new Mat(frame, new Rect(frame.Width / 4, frame.Height / 4, frame.Width / 2, frame.Height / 2));
            var probabilities = classifier.Classify(embedder.Embed([crop]), 1);
            Assert.Equal(label, Array.IndexOf(probabilities, probabilities.Max()));
        }
    }

    private static void WriteCrops(string video, string folder, int count)
    {
        Directory.CreateDirectory(folder);
        using var capture = new VideoCapture(video);
        using var frame = new Mat();
        var random = new Random(4);
        for (var i = 0; i < count && capture.Read(frame); i++)
        {
            capture.Read(frame);
            var size = random.Next(frame.Height / 3, frame.Height / 2);
            using var crop = new Mat(frame, new Rect(random.Next(0, frame.Width - size), random.Next(0, frame.Height - size), size, size));
            Cv2.ImWrite(Path.Combine(folder, $"{i:D3}.png"), crop);
        }
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
