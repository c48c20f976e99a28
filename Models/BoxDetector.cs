using System.Globalization;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;

namespace Edge.Models;

/// <summary>A box a detector found, in the pixels of the image it was given: corners, class index and score.</summary>
public readonly record struct DetectedBox(float X1, float Y1, float X2, float Y2, int Class, float Score)
{
    public float Area => Math.Max(0, X2 - X1) * Math.Max(0, Y2 - Y1);

    public static float Iou(in DetectedBox a, in DetectedBox b)
    {
        var w = Math.Min(a.X2, b.X2) - Math.Max(a.X1, b.X1);
        var h = Math.Min(a.Y2, b.Y2) - Math.Max(a.Y1, b.Y1);
        if (w <= 0 || h <= 0)
        {
            return 0;
        }
        var inter = w * h;
        return inter / (a.Area + b.Area - inter);
    }
}

/// <summary>
/// Serves a single-stage object detector in the output layout of the YOLO family, so that Edge's own detector
/// (<c>edge train detector</c>) and a user's YOLO export plug into the same path. Input: float RGB in 0..1, NCHW, the
/// image letterboxed (scaled to fit, padded with grey 114) to the model's input size. Output, either layout:
/// <list type="bullet">
/// <item>YOLOv8 and later: [N, 4 + C, A] — per anchor the box's centre x, centre y, width, height in input pixels and
/// C class scores;</item>
/// <item>YOLOv5: [N, A, 5 + C] — box, objectness, C class probabilities (score = objectness × class probability).</item>
/// </list>
/// Class names come from the model's metadata (<c>names</c>, as Ultralytics writes it: <c>{0: 'person', ...}</c>), else
/// from a text file beside the model (<c>NAME.labels.txt</c> or <c>NAME.names</c>, one per line), else class0, class1, ....
/// Boxes above the score threshold go through non-maximum suppression per class and are mapped back to the
/// image's pixels. Owns its session; not thread-safe (one caller, the object stage).
/// </summary>
public sealed class BoxDetector : IDisposable
{
    public enum OutputLayout
    {
        /// <summary>[N, 4 + C, A], no objectness.</summary>
        Yolo8,

        /// <summary>[N, A, 5 + C], with objectness.</summary>
        Yolo5,
    }

    /// <summary>The input size taken when the model's input has no fixed size (YOLO exports with dynamic axes).</summary>
    public const int DefaultInputSize = 640;

    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();
    private readonly string _inputName;
    private readonly string _outputName;
    private readonly bool _batches;

    private BoxDetector(ModelSession model, string inputName, string outputName, int width, int height, bool batches,
        OutputLayout layout, IReadOnlyList<string> labels)
    {
        _model = model;
        _inputName = inputName;
        _outputName = outputName;
        InputWidth = width;
        InputHeight = height;
        _batches = batches;
        Layout = layout;
        Labels = labels;
    }

    public int InputWidth { get; }

    public int InputHeight { get; }

    public OutputLayout Layout { get; }

    public IReadOnlyList<string> Labels { get; }

    public string Path => _model.Path;

    public ExecutionProvider Provider => _model.Provider;

    /// <summary>
    /// Opens a detector. Throws <see cref="ModelException"/> (Invalid) for a file that is not a model or a model whose
    /// input or output is not a detector's in one of the two layouts, naming what it found.
    /// </summary>
    public static BoxDetector Open(string modelPath, ModelOptions options, ILogger logger)
    {
        var model = ModelSession.Open(modelPath, options, logger);
        try
        {
            var session = model.Session;
            if (session.InputMetadata.Count != 1 || session.OutputMetadata.Count < 1)
            {
                throw Invalid(modelPath, $"it has {session.InputMetadata.Count} inputs and {session.OutputMetadata.Count} outputs; a detector has one image input");
            }
            var (inputName, input) = session.InputMetadata.First();
            var (outputName, output) = session.OutputMetadata.First();
            var dims = input.Dimensions;
            if (input.ElementDataType != TensorElementType.Float || dims.Length != 4 || dims[1] != 3)
            {
                throw Invalid(modelPath, $"its input '{inputName}' is {input.ElementDataType} [{Dims(dims)}]; a detector reads float [N, 3, H, W]");
            }
            var height = dims[2] > 0 ? dims[2] : DefaultInputSize;
            var width = dims[3] > 0 ? dims[3] : DefaultInputSize;
            var names = NamesFromMetadata(session.ModelMetadata.CustomMetadataMap) ?? NamesFromFile(modelPath);
            var o = output.Dimensions;
            if (output.ElementDataType != TensorElementType.Float || o.Length != 3)
            {
                throw Invalid(modelPath, $"its output '{outputName}' is {output.ElementDataType} [{Dims(o)}]; a detector gives [N, 4 + classes, boxes] (YOLOv8) or [N, boxes, 5 + classes] (YOLOv5)");
            }
            var layout = LayoutOf(o[1], o[2], names?.Count) ?? throw Invalid(modelPath,
                $"its output [{Dims(o)}] fits neither [N, 4 + classes, boxes] (YOLOv8) nor [N, boxes, 5 + classes] (YOLOv5){(names is null ? "" : $" with its {names.Count} class names")}");
            var classes = layout == OutputLayout.Yolo8 ? o[1] - 4 : o[2] - 5;
            if (classes < 1)
            {
                throw Invalid(modelPath, $"its output [{Dims(o)}] has no class scores");
            }
            if (names is not null && names.Count != classes)
            {
                throw Invalid(modelPath, $"it scores {classes} classes but names {names.Count}");
            }
            var labels = names ?? [.. Enumerable.Range(0, classes).Select(i => $"class{i}")];
            return new BoxDetector(model, inputName, outputName, width, height, dims[0] != 1, layout, labels);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>Which layout an output [N, d1, d2] has; null when neither fits. With names known, the class count decides.</summary>
    public static OutputLayout? LayoutOf(int d1, int d2, int? classes)
    {
        if (classes is { } c)
        {
            return d1 == 4 + c ? OutputLayout.Yolo8 : d2 == 5 + c ? OutputLayout.Yolo5 : null;
        }
        // Without names: the anchors are the long axis (thousands) and the values per anchor the short one.
        if (d1 > 4 && d2 > 0 && d1 < d2)
        {
            return OutputLayout.Yolo8;
        }
        return d2 > 5 && d1 > d2 ? OutputLayout.Yolo5 : null;
    }

    /// <summary>Ultralytics' <c>names</c> metadata, <c>{0: 'person', 1: 'bicycle'}</c>, in index order; null when absent or unreadable.</summary>
    public static IReadOnlyList<string>? NamesFromMetadata(IReadOnlyDictionary<string, string> metadata)
    {
        if (!metadata.TryGetValue("names", out var text))
        {
            return null;
        }
        var entries = Regex.Matches(text, @"(\d+)\s*:\s*(?:'([^']*)'|""([^""]*)"")")
            .Select(m => (Index: int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), Name: m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value))
            .OrderBy(e => e.Index).ToList();
        if (entries.Count == 0 || entries.Select((e, i) => e.Index == i).Any(ok => !ok))
        {
            return null;
        }
        return [.. entries.Select(e => e.Name)];
    }

    private static IReadOnlyList<string>? NamesFromFile(string modelPath)
    {
        var stem = System.IO.Path.Combine(System.IO.Path.GetDirectoryName(modelPath) ?? ".", System.IO.Path.GetFileNameWithoutExtension(modelPath));
        var file = new[] { stem + ".labels.txt", stem + ".names" }.FirstOrDefault(File.Exists);
        if (file is null)
        {
            return null;
        }
        var names = File.ReadAllLines(file).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length > 0 ? names : null;
    }

    /// <summary>
    /// The boxes of each image (BGR, any size), at most <paramref name="maxBoxes"/> each, highest score first, in the
    /// image's pixels. Images go through the model together when it takes a batch, else one at a time.
    /// </summary>
    public IReadOnlyList<DetectedBox>[] Detect(IReadOnlyList<Mat> images, float minScore, float nmsIou, int maxBoxes = 100)
    {
        var results = new IReadOnlyList<DetectedBox>[images.Count];
        var chunk = _batches ? Math.Max(1, images.Count) : 1;
        for (var start = 0; start < images.Count; start += chunk)
        {
            var count = Math.Min(chunk, images.Count - start);
            var plane = InputWidth * InputHeight;
            var input = new float[count * 3 * plane];
            var letterboxes = new (float Scale, float PadX, float PadY)[count];
            for (var i = 0; i < count; i++)
            {
                letterboxes[i] = Letterbox(images[start + i], input.AsSpan(i * 3 * plane, 3 * plane));
            }
            using var tensor = OrtValue.CreateTensorValueFromMemory(input, [count, 3, InputHeight, InputWidth]);
            using var outputs = _model.Session.Run(_runOptions, [_inputName], [tensor], [_outputName]);
            var shape = outputs[0].GetTensorTypeAndShape().Shape;
            var values = outputs[0].GetTensorDataAsSpan<float>();
            var per = (int)(shape[1] * shape[2]);
            for (var i = 0; i < count; i++)
            {
                var image = images[start + i];
                var candidates = Decode(values.Slice(i * per, per), (int)shape[1], (int)shape[2], minScore, letterboxes[i], image.Width, image.Height);
                results[start + i] = Suppress(candidates, nmsIou, maxBoxes);
            }
        }
        return results;
    }

    /// <summary>Scales the image to fit the input, pads it with grey 114 and writes it as RGB planes in 0..1.</summary>
    private (float Scale, float PadX, float PadY) Letterbox(Mat image, Span<float> target)
    {
        var scale = Math.Min((float)InputWidth / image.Width, (float)InputHeight / image.Height);
        var (w, h) = (Math.Max(1, (int)Math.Round(image.Width * scale)), Math.Max(1, (int)Math.Round(image.Height * scale)));
        var (padX, padY) = ((InputWidth - w) / 2, (InputHeight - h) / 2);
        using var resized = new Mat();
        Cv2.Resize(image, resized, new Size(w, h), 0, 0, InterpolationFlags.Linear);
        using var padded = new Mat();
        Cv2.CopyMakeBorder(resized, padded, padY, InputHeight - h - padY, padX, InputWidth - w - padX, BorderTypes.Constant, new Scalar(114, 114, 114));
        var plane = InputWidth * InputHeight;
        var channels = padded.Channels();
        if (!padded.IsContinuous() || padded.Type() != MatType.CV_8UC3 && padded.Type() != MatType.CV_8UC1)
        {
            throw new ArgumentException($"images must be 8-bit BGR or grey, not {padded.Type()}");
        }
        var pixels = new byte[plane * channels];
        System.Runtime.InteropServices.Marshal.Copy(padded.Data, pixels, 0, pixels.Length);
        {
            const float inv = 1f / 255f;
            for (var p = 0; p < plane; p++)
            {
                if (channels == 3)
                {
                    target[p] = pixels[p * 3 + 2] * inv;             // R
                    target[plane + p] = pixels[p * 3 + 1] * inv;     // G
                    target[2 * plane + p] = pixels[p * 3] * inv;     // B
                }
                else
                {
                    target[p] = target[plane + p] = target[2 * plane + p] = pixels[p] * inv;
                }
            }
        }
        return (scale, padX, padY);
    }

    private List<DetectedBox> Decode(ReadOnlySpan<float> v, int d1, int d2, float minScore, (float Scale, float PadX, float PadY) letterbox,
        int imageWidth, int imageHeight)
    {
        var found = new List<DetectedBox>();
        var yolo8 = Layout == OutputLayout.Yolo8;
        var anchors = yolo8 ? d2 : d1;
        var classes = Labels.Count;
        for (var a = 0; a < anchors; a++)
        {
            var (best, score) = (0, float.MinValue);
            var first = yolo8 ? 4 : 5;
            for (var c = 0; c < classes; c++)
            {
                var s = At(v, first + c, a, d2, yolo8);
                if (s > score)
                {
                    (best, score) = (c, s);
                }
            }
            if (!yolo8)
            {
                score *= At(v, 4, a, d2, yolo8);
            }
            if (!(score >= minScore))
            {
                continue;
            }
            var (cx, cy, w, h) = (At(v, 0, a, d2, yolo8), At(v, 1, a, d2, yolo8), At(v, 2, a, d2, yolo8), At(v, 3, a, d2, yolo8));
            var x1 = Math.Clamp((cx - w / 2 - letterbox.PadX) / letterbox.Scale, 0, imageWidth);
            var y1 = Math.Clamp((cy - h / 2 - letterbox.PadY) / letterbox.Scale, 0, imageHeight);
            var x2 = Math.Clamp((cx + w / 2 - letterbox.PadX) / letterbox.Scale, 0, imageWidth);
            var y2 = Math.Clamp((cy + h / 2 - letterbox.PadY) / letterbox.Scale, 0, imageHeight);
            if (x2 - x1 >= 1 && y2 - y1 >= 1)
            {
                found.Add(new DetectedBox(x1, y1, x2, y2, best, score));
            }
        }
        return found;
    }

    /// <summary>Value k of anchor a in either layout.</summary>
    private static float At(ReadOnlySpan<float> v, int k, int a, int d2, bool yolo8) => yolo8 ? v[k * d2 + a] : v[a * d2 + k];

    /// <summary>Greedy non-maximum suppression per class: highest score first, dropping boxes overlapping a kept one by more than <paramref name="iou"/>.</summary>
    public static List<DetectedBox> Suppress(List<DetectedBox> boxes, float iou, int maxBoxes)
    {
        boxes.Sort((a, b) => b.Score.CompareTo(a.Score));
        var kept = new List<DetectedBox>();
        foreach (var box in boxes)
        {
            if (kept.Count >= maxBoxes)
            {
                break;
            }
            var overlaps = false;
            foreach (var k in kept)
            {
                if (k.Class == box.Class && DetectedBox.Iou(k, box) > iou)
                {
                    overlaps = true;
                    break;
                }
            }
            if (!overlaps)
            {
                kept.Add(box);
            }
        }
        return kept;
    }

    private static ModelException Invalid(string path, string why) => new(ModelError.Invalid, $"{path} is not a detector Edge can serve: {why}");

    private static string Dims(int[] dims) => string.Join(", ", dims.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture)));

    public void Dispose()
    {
        _runOptions.Dispose();
        _model.Dispose();
    }
}
