using System.Text.Json;
using Edge.Models;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests;

/// <summary>The object stage through the real <c>edge</c> executable: results, annotation, the head and its crop set.</summary>
public sealed class ObjectStageTests : IDisposable
{
    /// <summary>Measured 100 % (314 held-out crops) when the default head was first built; the floor leaves room for retraining noise.</summary>
    private const double HeldOutAccuracyFloor = 0.97;

    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task Process_WithObjectHead_FramesJsonlSummaryAndAnnotatedVideoCarryTheObjects()
    {
        WriteConfig($$"""{ "Objects": { "HeadModel": "{{TestData.ObjectHead}}", "Required": true, "Gating": "Motion" } }""");
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--out", "out", "--annotate", "--max-frames", "12", "--config", "edge.json", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("objects: gating Motion, crop CNN on", result.Stdout, StringComparison.Ordinal);
        var frames = File.ReadAllLines(Path.Combine(_work, "out", "frames.jsonl")).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(12, frames.Count);
        var objects = frames.Select(f => f.GetProperty("objects").EnumerateArray().ToList()).ToList();
        Assert.True(objects.Count(o => o.Count > 0) >= 8, "people walk through every frame of the clip");
        foreach (var o in objects.SelectMany(o => o))
        {
            Assert.Equal("person", o.GetProperty("label").GetString());
            Assert.InRange(o.GetProperty("confidence").GetDouble(), 0.5, 1.0);
            var box = o.GetProperty("box").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            Assert.True(box.Length == 4 && box[0] < box[2] && box[1] < box[3] && box[2] <= 768 && box[3] <= 576, string.Join(",", box));
        }
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement.GetProperty("objects");
        Assert.Equal(12, summary.GetProperty("frames").GetInt64());
        Assert.Equal(12, summary.GetProperty("cropRuns").GetInt64() + summary.GetProperty("skippedInferences").GetInt64());
        Assert.Equal(objects.Sum(o => o.Count), summary.GetProperty("objects").GetInt64());

        // Tracks: the people keep their ids from frame to frame (the tracker is on by default with the object stage).
        var tracks = frames.Select(f => f.GetProperty("tracks").EnumerateArray().Select(t => t.GetProperty("id").GetInt64()).ToList()).ToList();
        var ids = tracks.SelectMany(t => t).Distinct().ToList();
        Assert.NotEmpty(ids);
        Assert.True(ids.Max(id => tracks.Count(t => t.Contains(id))) >= 6, $"a person keeps one id over half the clip: {string.Join(" | ", tracks.Select(t => string.Join(",", t)))}");
        Assert.All(tracks, t => Assert.Equal(t.Count, t.Distinct().Count()));

        // The annotated frame shows each box as a green outline the original frame does not have there.
        var index = objects.FindLastIndex(o => o.Count > 0);
        var first = objects[index][0].GetProperty("box").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        using var annotated = FrameAt(Path.Combine(_work, "out", "annotated.mp4"), index);
        using var original = FrameAt(TestData.VtestShort, index);
        Assert.True(GreenShare(annotated, first) > 0.6, "the box's top edge is drawn green");
        Assert.True(GreenShare(original, first) < 0.2, "the original is not green there");
    }

    [Theory]
    [InlineData(false, 0, "the object stage is off")]
    [InlineData(true, ExitCodes.ModelNotFound, "classification head not found")]
    public async Task Process_MissingObjectHead_WarnsOrFailsAsConfigured(bool required, int exitCode, string message)
    {
        WriteConfig($$"""{ "Objects": { "HeadModel": "none.onnx", "Required": {{(required ? "true" : "false")}} } }""");
        var result = await EdgeProcess.RunAsync(_work, ["process", TestData.VtestShort, "--max-frames", "3", "--out", "out", "--config", "edge.json", .. EdgeProcess.ModelArgs]);
        Assert.True(exitCode == result.ExitCode, result.Stderr);
        Assert.Contains(message, result.Stderr, StringComparison.Ordinal);
        if (!required)
        {
            var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement;
            Assert.Equal(JsonValueKind.Null, summary.GetProperty("objects").ValueKind);
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Eval_DefaultObjectHeads_HeldOutAccuracyAboveTheFloor(bool grid)
    {
        var result = await EdgeProcess.RunAsync(_work, ["eval", grid ? TestData.ObjectGridHead : TestData.ObjectHead, Path.Combine(TestData.ObjectCrops, "test"), "--out", "eval", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var eval = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "eval", "eval.json"))).RootElement;
        Assert.True(eval.GetProperty("samples").GetInt32() >= 200);
        Assert.True(eval.GetProperty("accuracy").GetDouble() >= HeldOutAccuracyFloor, result.Stdout);
    }

    [Fact]
    public async Task DataObjects_Vtest_SplitsByTimeWithBothClassesOnEachSide()
    {
        var result = await EdgeProcess.RunAsync(_work, ["data", "objects", "--video", TestData.Vtest, "--out", "crops", "--every", "20", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr);
        var crops = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "crops", "crops.json"))).RootElement;
        Assert.Equal(596, crops.GetProperty("testStartFrame").GetInt32());
        foreach (var (split, frames) in new[] { ("train", (0, 596 - 30)), ("test", (596, 795)) })
        {
            foreach (var label in new[] { "person", "background" })
            {
                var files = Directory.GetFiles(Path.Combine(_work, "crops", split, label));
                Assert.True(files.Length >= 5, $"{split}/{label}: {files.Length} crops");
                Assert.Equal(files.Length, crops.GetProperty(split).GetProperty(label).GetInt32());
                Assert.All(files, f => Assert.InRange(int.Parse(Path.GetFileName(f)[1..6], System.Globalization.CultureInfo.InvariantCulture), frames.Item1, frames.Item2 - 1));
                using var image = Cv2.ImRead(files[0]);
                Assert.Equal(new Size(224, 224), image.Size());
            }
        }
        Assert.False(Directory.Exists(Path.Combine(_work, "crops.incomplete")));

        // Each crop's frame and box, for heads over grid regions: one line a crop, its frame in its file's name, the
        // crop (squared, with the margin) around the box.
        var regions = File.ReadAllLines(Path.Combine(_work, "crops", "regions.csv"));
        Assert.Equal("file,split,label,frame,x1,y1,x2,y2", regions[0]);
        Assert.Equal(Directory.GetFiles(Path.Combine(_work, "crops"), "*.jpg", SearchOption.AllDirectories).Length, regions.Length - 1);
        foreach (var line in regions.Skip(1))
        {
            var f = line.Split(',');
            Assert.True(File.Exists(Path.Combine(_work, "crops", f[0])), f[0]);
            Assert.Equal(int.Parse(Path.GetFileName(f[0])[1..6], System.Globalization.CultureInfo.InvariantCulture), int.Parse(f[3], System.Globalization.CultureInfo.InvariantCulture));
            var box = f[4..].Select(v => int.Parse(v, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            Assert.True(box[0] >= 0 && box[1] >= 0 && box[2] <= 768 && box[3] <= 576 && box[2] > box[0] && box[3] > box[1], line);
        }
    }

    [Fact]
    public async Task TrainClassifier_GridRegions_HeadOverTheFramesGridHoldsOnTheHeldOutFrames()
    {
        var result = await EdgeProcess.RunAsync(_work, ["train", "classifier", Path.Combine(TestData.ObjectCrops, "train"), "--features", "grid-region",
            "--out", "models/grid-head.onnx", .. EdgeProcess.ModelArgs]);

        Assert.True(result.ExitCode == 0, result.Stderr + result.Stdout);
        var manifest = ModelManifest.Load(Path.Combine(_work, "models", "grid-head.json"));
        Assert.Equal(("grid-region", 256), (manifest.Features, manifest.FeatureSize));
        var heldOut = System.Text.RegularExpressions.Regex.Match(result.Stdout, @"held-out test split ([0-9.]+) %");
        Assert.True(heldOut.Success, result.Stdout);
        Assert.True(double.Parse(heldOut.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) >= HeldOutAccuracyFloor * 100, result.Stdout);

        // Not a split of a crop set: one clear error, nothing written.
        var wrong = await EdgeProcess.RunAsync(_work, ["train", "classifier", _work, "--features", "grid-region", "--out", "models/x.onnx", .. EdgeProcess.ModelArgs]);
        Assert.Equal(ExitCodes.TrainingDataUnusable, wrong.ExitCode);
        Assert.Contains("need a split of a crop set", wrong.Stderr, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(_work, "models", "x.onnx")));
    }

    private void WriteConfig(string json) => File.WriteAllText(Path.Combine(_work, "edge.json"), json);

    private static Mat FrameAt(string video, int index)
    {
        using var capture = new VideoCapture(video);
        var frame = new Mat();
        for (var i = 0; i <= index; i++)
        {
            Assert.True(capture.Read(frame));
        }
        return frame;
    }

    /// <summary>Share of the pixels on the box's top edge that are strongly green.</summary>
    private static double GreenShare(Mat image, int[] box)
    {
        var green = 0;
        for (var x = box[0] + 2; x < box[2] - 2; x++)
        {
            var p = image.At<Vec3b>(box[1], x);
            green += p.Item1 > 180 && p.Item0 < 110 && p.Item2 < 110 ? 1 : 0;
        }
        return green / (double)Math.Max(1, box[2] - box[0] - 4);
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
