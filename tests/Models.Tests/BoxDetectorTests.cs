using Edge.Models.Onnx;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Models.Tests;

/// <summary>
/// The YOLO-layout detector path on real ONNX models run by ONNX Runtime: each test writes a model whose output is a
/// known prediction table (added to nothing the image changes), so decoding, scores, suppression and the letterbox's
/// way back to frame pixels are checked against numbers worked out by hand.
/// </summary>
public sealed class BoxDetectorTests : IDisposable
{
    private const int Size = 64;
    private readonly string _folder = TestData.NewTempFolder();
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 1 };

    // A 128×64 frame in a 64×64 input: scale 0.5, content 64×32, 16 rows of padding above and below.
    // The input box centre (32, 32), size 16×8 is the frame box (48, 24)–(80, 40).
    private static readonly float[] s_box = [32, 32, 16, 8];

    [Fact]
    public void Detect_Yolo8Layout_KeepsTheBestOfOverlappingBoxesPerClass_MapsThemBackThroughTheLetterbox()
    {
        // Anchors: person 0.9; the same person shifted a pixel at 0.8 (suppressed); a car on the same box at 0.7 (kept:
        // another class); something at 0.05 (below the threshold).
        float[][] anchors =
        [
            [.. s_box, 0.9f, 0.1f],
            [33, 32, 16, 8, 0.8f, 0.1f],
            [.. s_box, 0.2f, 0.7f],
            [10, 10, 4, 4, 0.05f, 0.01f],
        ];
        var path = Write("v8.onnx", Yolo8(anchors), names: "{0: 'person', 1: \"car\"}");

        using var detector = BoxDetector.Open(path, s_cpu, NullLogger.Instance);
        Assert.Equal(BoxDetector.OutputLayout.Yolo8, detector.Layout);
        Assert.Equal(["person", "car"], detector.Labels);
        using var frame = new Mat(64, 128, MatType.CV_8UC3, Scalar.All(90));
        var boxes = detector.Detect([frame], minScore: 0.25f, nmsIou: 0.45f)[0];

        Assert.Equal(2, boxes.Count);
        var person = boxes[0];
        Assert.Equal((0, 0.9f), (person.Class, person.Score));
        Assert.Equal([48f, 24f, 80f, 40f], [person.X1, person.Y1, person.X2, person.Y2]);
        Assert.Equal((1, 0.7f), (boxes[1].Class, boxes[1].Score));
    }

    [Fact]
    public void Detect_Yolo5Layout_ScoresObjectnessTimesClass_NamesFromALabelsFileBesideTheModel()
    {
        // [box, objectness, class probabilities]: 0.5 × 0.9 = 0.45 for the first; the second's best class is the first,
        // 0.9 × 0.7 = 0.63 (not its second, 0.9 × 0.3).
        float[][] anchors =
        [
            [.. s_box, 0.5f, 0.9f, 0.1f],
            [16, 40, 8, 8, 0.9f, 0.7f, 0.3f],
        ];
        var path = Write("v5.onnx", Yolo5(anchors));
        File.WriteAllLines(Path.Combine(_folder, "v5.labels.txt"), ["person", "bag", ""]);

        using var detector = BoxDetector.Open(path, s_cpu, NullLogger.Instance);
        Assert.Equal(BoxDetector.OutputLayout.Yolo5, detector.Layout);
        Assert.Equal(["person", "bag"], detector.Labels);
        using var frame = new Mat(64, 128, MatType.CV_8UC3, Scalar.All(30));
        var loose = detector.Detect([frame], 0.25f, 0.45f)[0];
        Assert.Equal(2, loose.Count);
        Assert.Equal((0, 0.63f), (loose[0].Class, MathF.Round(loose[0].Score, 5)));
        Assert.Equal((0, 0.45f), (loose[1].Class, MathF.Round(loose[1].Score, 5)));
        Assert.Equal([48f, 24f, 80f, 40f], [loose[1].X1, loose[1].Y1, loose[1].X2, loose[1].Y2]);
        var strict = detector.Detect([frame], 0.5f, 0.45f)[0];
        Assert.Equal(0.63f, Assert.Single(strict).Score, 5);
    }

    [Fact]
    public void Open_NotADetector_SaysWhatItFound()
    {
        var grey = Write("grey.onnx", Model([1, 1, Size, Size], [1, 6, 4], new float[24]));
        var flat = Write("flat.onnx", Model([1, 3, Size, Size], [1, 24], new float[24]));
        var counted = Write("counted.onnx", Yolo8([[.. s_box, 0.9f, 0.1f]]), names: "{0: 'person', 1: 'car', 2: 'bus'}");
        var junk = Path.Combine(_folder, "junk.onnx");
        File.WriteAllText(junk, "not a model");

        Assert.Contains("a detector reads float [N, 3, H, W]", Reject(grey), StringComparison.Ordinal);
        Assert.Contains("[N, 4 + classes, boxes] (YOLOv8)", Reject(flat), StringComparison.Ordinal);
        Assert.Contains("with its 3 class names", Reject(counted), StringComparison.Ordinal);
        Assert.Contains("cannot be loaded", Reject(junk), StringComparison.Ordinal);

        static string Reject(string path)
        {
            var error = Assert.Throws<ModelException>(() => BoxDetector.Open(path, s_cpu, NullLogger.Instance));
            Assert.Equal(ModelError.Invalid, error.Error);
            return error.Message;
        }
    }

    [Theory]
    [InlineData(84, 8400, null, BoxDetector.OutputLayout.Yolo8)]      // YOLOv8n COCO export
    [InlineData(25200, 85, null, BoxDetector.OutputLayout.Yolo5)]     // YOLOv5s COCO export
    [InlineData(5, 1200, 1, BoxDetector.OutputLayout.Yolo8)]          // Edge's person detector
    [InlineData(6, 6, 1, BoxDetector.OutputLayout.Yolo5)]             // square: the names decide
    public void LayoutOf_ReadsTheShape(int d1, int d2, int? classes, BoxDetector.OutputLayout expected) =>
        Assert.Equal(expected, BoxDetector.LayoutOf(d1, d2, classes));

    private static (long[] Shape, float[] Values) Yolo8(float[][] anchors)
    {
        var values = anchors[0].Length;
        var table = new float[values * anchors.Length];
        for (var a = 0; a < anchors.Length; a++)
        {
            for (var k = 0; k < values; k++)
            {
                table[k * anchors.Length + a] = anchors[a][k];
            }
        }
        return ([1, values, anchors.Length], table);
    }

    private static (long[] Shape, float[] Values) Yolo5(float[][] anchors) =>
        ([1, anchors.Length, anchors[0].Length], [.. anchors.SelectMany(a => a)]);

    private string Write(string name, (long[] Shape, float[] Values) output, string? names = null) =>
        Write(name, Model([1, 3, Size, Size], output.Shape, output.Values, names));

    private string Write(string name, OnnxGraphBuilder builder)
    {
        var path = Path.Combine(_folder, name);
        builder.Save(path);
        return path;
    }

    /// <summary>A model whose output is <paramref name="table"/> plus zero times the image's largest value.</summary>
    private static OnnxGraphBuilder Model(long[] input, long[] output, float[] table, string? names = null)
    {
        var builder = new OnnxGraphBuilder("table");
        var images = builder.Input("images", [.. input.Select(d => (long?)d)]);
        var largest = builder.Node("ReduceMax", [images], OnnxGraphBuilder.Int("keepdims", 1));
        var shaped = builder.Node("Reshape", [largest, builder.Int64Initializer("one", [.. output.Select(_ => 1L)])]);
        var zero = builder.Node("Mul", [shaped, builder.Initializer("zero", [0f], 1)]);
        var result = builder.Node("Add", [zero, builder.Initializer("table", table, output)]);
        builder.Output(result, "output0", [.. output.Select(d => (long?)d)]);
        if (names is not null)
        {
            builder.Model.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = "names", Value = names });
        }
        return builder;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
