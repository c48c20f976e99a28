using System.Text.Json;
using Edge.Models;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary><c>edge data activity</c> → <c>edge train sequence</c> → <c>edge eval activity</c>, run as a user runs them.</summary>
public sealed class ActivityEvalTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task EvalActivity_SmallGeneratedSet_SequenceModelBeatsTheSingleFrameBaseline()
    {
        var data = await EdgeProcess.RunAsync(_work, ["data", "activity", "--video", TestData.Vtest, "--out", "clips",
            "--clips-per-class", "16", "--test-clips-per-class", "4", "--frames", "12", "--seed", "2"]);
        Assert.True(data.ExitCode == 0, data.Stderr);
        Assert.Contains("100 clips of 12 frames at 320x240", data.Stdout, StringComparison.Ordinal);

        var trained = await EdgeProcess.RunAsync(_work, ["train", "sequence", "clips/train", "--task", "activity", "--input", "changes", "--window", "8", "--stride", "2",
            "--hidden", "64", "--epochs", "40", "--patience", "8", "--lr", "0.002", "--batch-size", "32", "--out", "models/activity.onnx", .. EdgeProcess.ModelArgs]);
        Assert.True(trained.ExitCode == 0, trained.Stderr + trained.Stdout);

        string[] evalArgs = ["eval", "activity", "clips/test", "--activity-model", "models/activity.onnx", "--train", "clips/train", "--out", "eval", .. EdgeProcess.ModelArgs];
        var evaluated = await EdgeProcess.RunTorchAsync(_work, evalArgs);

        Assert.True(evaluated.ExitCode == 0, evaluated.Stderr + evaluated.Stdout);
        Assert.Contains("difference", evaluated.Stdout, StringComparison.Ordinal);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval.json"))).RootElement;
        var results = eval.GetProperty("results").EnumerateArray().ToList();
        var (model, baseline) = (results[0].GetProperty("accuracy").GetDouble(), results[1].GetProperty("accuracy").GetDouble());
        // 20 test clips of 12 frames, windows of 8 every 2 frames: 3 windows per clip, the same for both methods.
        Assert.All(results, r => Assert.Equal(60, r.GetProperty("windows").GetInt32()));
        Assert.All(results, r => Assert.Equal(60, r.GetProperty("confusion").EnumerateArray().SelectMany(row => row.EnumerateArray()).Sum(v => v.GetInt32())));
        Assert.True(model >= baseline + 0.1, $"model {model:P1}, single-frame baseline {baseline:P1}");
        Assert.True(File.Exists(Path.Combine(_work, "eval", "confusion-model.png")));
        Assert.True(File.Exists(Path.Combine(_work, "eval", "confusion-baseline.png")));
        Assert.False(Directory.Exists(Path.Combine(_work, "eval", ".incomplete")));
    }

    public static TheoryData<string, int, string> BadInputs => new()
    {
        { "missing test folder", ExitCodes.TrainingDataUnusable, "dataset folder not found: nowhere" },
        { "missing model", ExitCodes.ModelNotFound, "activity model not found: models/none.onnx" },
        { "frame model", ExitCodes.ModelInvalid, "is a 'frame-embedding' model, not an activity model" },
        { "16-d features", ExitCodes.TrainingDataUnusable, "holds 16-d features, the model reads 512" },
        { "unknown class", ExitCodes.TrainingDataUnusable, "class folders jump are not among the model's labels (a, b)" },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task EvalActivity_BadInput_OneLineExitCodeAndNoResults(string kind, int exitCode, string message)
    {
        // A real activity model over 512-d features, trained in seconds on .npy clips of two classes.
        var train = Path.Combine(_work, "train");
        WriteClips(train, ["a", "b"], 512);
        var trained = await EdgeProcess.RunAsync(_work, ["train", "sequence", "train", "--task", "activity", "--window", "4", "--hidden", "8",
            "--epochs", "2", "--out", "models/activity.onnx", .. EdgeProcess.ModelArgs]);
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        var (test, model) = kind switch
        {
            "missing test folder" => ("nowhere", "models/activity.onnx"),
            "missing model" => ("train", "models/none.onnx"),
            "frame model" => ("train", TestData.FrameModel),
            "16-d features" => (WriteClips(Path.Combine(_work, "small"), ["a", "b"], 16), "models/activity.onnx"),
            "unknown class" => (WriteClips(Path.Combine(_work, "other"), ["a", "jump"], 512), "models/activity.onnx"),
            _ => throw new ArgumentException(kind),
        };

        var result = await EdgeProcess.RunAsync(_work, ["eval", "activity", test, "--activity-model", model, "--train", "train", "--out", "eval", .. EdgeProcess.ModelArgs]);

        Assert.True(exitCode == result.ExitCode, $"{kind}: exit code {result.ExitCode}, stderr: {result.Stderr}");
        var errorLines = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        Assert.Single(errorLines);
        Assert.Contains(message, errorLines[0], StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_work, "eval")) && Directory.EnumerateFiles(Path.Combine(_work, "eval"), "*", SearchOption.AllDirectories).Any());
    }

    /// <summary>Two .npy clips of 12 rows per class, each class around its own mean.</summary>
    private static string WriteClips(string folder, string[] classes, int features)
    {
        var random = new Random(3);
        for (var c = 0; c < classes.Length; c++)
        {
            Directory.CreateDirectory(Path.Combine(folder, classes[c]));
            for (var clip = 0; clip < 2; clip++)
            {
                using var writer = new NpyFile.Writer(Path.Combine(folder, classes[c], $"clip{clip}.npy"), features);
                for (var row = 0; row < 12; row++)
                {
                    writer.Append([.. Enumerable.Range(0, features).Select(_ => (float)(c + random.NextDouble()))]);
                }
            }
        }
        return folder;
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
