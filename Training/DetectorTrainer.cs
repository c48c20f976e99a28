using System.Diagnostics;
using Edge.Models;
using Edge.Models.Onnx;
using Edge.Training.Data;
using Edge.Training.Onnx;
using OpenCvSharp;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Edge.Training;

/// <summary>
/// Edge's own person detector: a small single-stage, anchor-free network trained from scratch on the multi-person
/// scenes' ground-truth boxes (<see cref="MultiPersonScenes"/>) and exported as ONNX in the YOLOv8 output layout
/// ([N, 4 + classes, anchors]; box centre, size in input pixels; class scores), so that it is served by
/// <see cref="BoxDetector"/> exactly as a user's own YOLO export is.
/// <para>
/// Network: four stride-2/1 conv-BN-ReLU blocks to a stride-8 grid (40 × 30 cells for the 320 × 240 input), two
/// dilated blocks that widen what each cell sees to about 127 input pixels (a near person's height), and a 1 × 1 head
/// with five values per cell: centre offset (x, y), log size (w, h) and the person score. A person is assigned to the
/// cell holding its centre and the two neighbouring cells nearest to it (as YOLOv5 does), so every person has three
/// positive cells; the box of a cell is ((σ(t)·2 − 0.5 + cell) · 8, exp(t) · 32). Loss: binary cross-entropy of the
/// score over all cells (cells of people less than 30 % visible are neither positive nor negative) plus smooth L1
/// of the box values on positive cells. The decoding is part of the exported graph.
/// </para>
/// </summary>
public static class DetectorTrainer
{
    public const int InputWidth = 320;
    public const int InputHeight = 240;
    public const int Stride = 8;
    public const float SizeUnit = 32f;
    public const int Width = 48;

    /// <summary>Visibility below which a person is neither learned nor counted as missed.</summary>
    public const double MinVisibility = 0.3;

    private const int GridWidth = InputWidth / Stride;
    private const int GridHeight = InputHeight / Stride;

    public static readonly string[] Labels = ["person"];

    // Numbers reach libtorch as Scalars that live as long as the process, never as implicit conversions that a garbage
    // collection can free during the native call (see AdamOptimizer).
    private static readonly TorchSharp.Scalar s_one = 1f.ToScalar();
    private static readonly TorchSharp.Scalar s_two = 2f.ToScalar();
    private static readonly TorchSharp.Scalar s_half = 0.5f.ToScalar();
    private static readonly TorchSharp.Scalar s_byteRange = 255f.ToScalar();
    private static readonly TorchSharp.Scalar s_minLogSize = (-6f).ToScalar();
    private static readonly TorchSharp.Scalar s_maxLogSize = 6f.ToScalar();
    private static readonly TorchSharp.Scalar s_stride = ((float)Stride).ToScalar();
    private static readonly TorchSharp.Scalar s_sizeUnit = SizeUnit.ToScalar();
    private static readonly TorchSharp.Scalar s_gridWidth = ((long)GridWidth).ToScalar();
    private static readonly TorchSharp.Scalar s_gridHeight = ((long)GridHeight).ToScalar();

    /// <summary>Training frames: RGB pixels [N, H, W, 3] at the input size and each frame's boxes in input pixels (x1, y1, x2, y2, visible share).</summary>
    public sealed record Data(byte[] Pixels, int Count, IReadOnlyList<float[][]> Boxes);

    public sealed record Result(Sequential Network, IReadOnlyList<EpochReport> Epochs, double BestValidationLoss, TimeSpan Elapsed, bool StoppedEarly);

    public static Sequential Network()
    {
        var network = Sequential(
            ("conv1", Conv2d(3, 16, 3, stride: 2, padding: 1, bias: false)), ("bn1", BatchNorm2d(16)), ("relu1", ReLU()),
            ("conv2", Conv2d(16, 32, 3, stride: 2, padding: 1, bias: false)), ("bn2", BatchNorm2d(32)), ("relu2", ReLU()),
            ("conv3", Conv2d(32, Width, 3, stride: 2, padding: 1, bias: false)), ("bn3", BatchNorm2d(Width)), ("relu3", ReLU()),
            ("conv4", Conv2d(Width, Width, 3, padding: 1, bias: false)), ("bn4", BatchNorm2d(Width)), ("relu4", ReLU()),
            ("conv5", Conv2d(Width, Width, 3, padding: 2, dilation: 2, bias: false)), ("bn5", BatchNorm2d(Width)), ("relu5", ReLU()),
            ("conv6", Conv2d(Width, Width, 3, padding: 4, dilation: 4, bias: false)), ("bn6", BatchNorm2d(Width)), ("relu6", ReLU()),
            ("head", Conv2d(Width, 5, 1)));
        using (no_grad())
        {
            // A low prior for "person" in every cell, so the many empty cells do not swamp the first steps.
            var head = (Conv2d)network.named_children().Single(c => c.name == "head").module;
            head.bias!.copy_(tensor(new float[] { 0, 0, 0, 0, -4.6f }));
        }
        return network;
    }

    /// <summary>
    /// Reads every <paramref name="frameStep"/>th frame of each scene with its ground truth, scaled to the input size.
    /// </summary>
    public static Data Load(IEnumerable<string> sceneFolders, int frameStep, CancellationToken ct)
    {
        var pixels = new List<byte[]>();
        var boxes = new List<float[][]>();
        foreach (var folder in sceneFolders)
        {
            var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile)).ToLookup(b => b.Frame);
            var video = Path.Combine(folder, MultiPersonScenes.VideoFile);
            using var capture = new VideoCapture(video);
            if (!capture.IsOpened())
            {
                throw new TrainingDataException($"cannot decode {video}");
            }
            using var image = new Mat();
            var frame = 0;
            while (capture.Read(image))
            {
                ct.ThrowIfCancellationRequested();
                frame++;
                if ((frame - 1) % frameStep != 0)
                {
                    continue;
                }
                var (sx, sy) = ((float)InputWidth / image.Width, (float)InputHeight / image.Height);
                using var resized = image.Resize(new OpenCvSharp.Size(InputWidth, InputHeight), 0, 0, InterpolationFlags.Area);
                using var rgb = resized.CvtColor(ColorConversionCodes.BGR2RGB);
                var bytes = new byte[InputWidth * InputHeight * 3];
                System.Runtime.InteropServices.Marshal.Copy(rgb.Data, bytes, 0, bytes.Length);
                pixels.Add(bytes);
                boxes.Add([.. truth[frame].Select(b => new[]
                {
                    (float)b.Left * sx, (float)b.Top * sy, (float)b.Right * sx, (float)b.Bottom * sy,
                    b.Evaluated ? (float)b.Visibility : 0f,
                })]);
            }
        }
        if (pixels.Count == 0)
        {
            throw new TrainingDataException("no scene frames to train the detector on");
        }
        var all = new byte[pixels.Count * InputWidth * InputHeight * 3];
        for (var i = 0; i < pixels.Count; i++)
        {
            pixels[i].CopyTo(all, i * pixels[i].Length);
        }
        return new Data(all, pixels.Count, boxes);
    }

    public static Result Train(Data data, TrainOptions options, IProgress<StepProgress>? steps, IProgress<EpochReport>? epochs, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var random = new Random((int)options.Seed);
        var order = Enumerable.Range(0, data.Count).ToArray();
        random.Shuffle(order);
        var validationCount = Math.Max(1, (int)(data.Count * options.ValidationFraction));
        var validation = order[..validationCount];
        var training = order[validationCount..];
        var network = Network();
        using var optimizer = new AdamOptimizer(network.parameters(), options.LearningRate);
        using var best = new BestEpoch(options.CheckpointPath);
        var reports = new List<EpochReport>();
        var stoppedEarly = false;
        for (var epoch = 1; epoch <= options.Epochs; epoch++)
        {
            network.train();
            random.Shuffle(training);
            var stepCount = (training.Length + options.BatchSize - 1) / options.BatchSize;
            double lossSum = 0;
            for (var step = 0; step < stepCount; step++)
            {
                ct.ThrowIfCancellationRequested();
                using var scope = NewDisposeScope();
                var indices = training.AsSpan(step * options.BatchSize, Math.Min(options.BatchSize, training.Length - step * options.BatchSize)).ToArray();
                var loss = Loss(network, data, indices, flip: random.Next(2) == 1);
                optimizer.ZeroGrad();
                loss.backward();
                optimizer.Step();
                var value = loss.item<float>();
                lossSum += value;
                steps?.Report(new StepProgress(epoch, step + 1, stepCount, value));
            }
            var validationLoss = ValidationLoss(network, data, validation);
            var improved = best.Offer(network, -validationLoss);
            var report = new EpochReport(epoch, lossSum / stepCount, validationLoss, null, clock.Elapsed, improved);
            reports.Add(report);
            epochs?.Report(report);
            if (best.ShouldStop(reports, options.Patience, options.TimeLimit))
            {
                stoppedEarly = epoch < options.Epochs;
                break;
            }
        }
        best.Restore(network);
        network.eval();
        return new Result(network, reports, -best.Score, clock.Elapsed, stoppedEarly);
    }

    private static double ValidationLoss(Sequential network, Data data, int[] indices)
    {
        network.eval();
        using var noGrad = no_grad();
        double sum = 0;
        var batches = 0;
        foreach (var chunk in indices.Chunk(32))
        {
            using var scope = NewDisposeScope();
            sum += Loss(network, data, chunk, flip: false).item<float>();
            batches++;
        }
        return sum / Math.Max(1, batches);
    }

    /// <summary>The training loss of a batch of frames (optionally mirrored left to right).</summary>
    private static Tensor Loss(Sequential network, Data data, int[] indices, bool flip)
    {
        var frameBytes = InputWidth * InputHeight * 3;
        var batch = new byte[indices.Length * frameBytes];
        for (var i = 0; i < indices.Length; i++)
        {
            data.Pixels.AsSpan(indices[i] * frameBytes, frameBytes).CopyTo(batch.AsSpan(i * frameBytes));
        }
        var x = tensor(batch, [indices.Length, InputHeight, InputWidth, 3], ScalarType.Byte).to_type(ScalarType.Float32).permute(0, 3, 1, 2).div(s_byteRange);
        if (flip)
        {
            x = x.flip(3);
        }
        var cells = GridWidth * GridHeight;
        var target = new float[indices.Length * 5 * cells];
        var weight = new float[indices.Length * cells];
        var positive = new float[indices.Length * cells];
        Array.Fill(weight, 1f);
        for (var i = 0; i < indices.Length; i++)
        {
            foreach (var box in data.Boxes[indices[i]])
            {
                var (x1, x2) = flip ? (InputWidth - box[2], InputWidth - box[0]) : (box[0], box[2]);
                var (y1, y2) = (box[1], box[3]);
                var (cx, cy, w, h) = ((x1 + x2) / 2, (y1 + y2) / 2, Math.Max(1f, x2 - x1), Math.Max(1f, y2 - y1));
                var (gx, gy) = ((int)Math.Floor(cx / Stride), (int)Math.Floor(cy / Stride));
                var (fx, fy) = (cx / Stride - gx, cy / Stride - gy);
                var assigned = new[] { (gx, gy), (fx < 0.5f ? gx - 1 : gx + 1, gy), (gx, fy < 0.5f ? gy - 1 : gy + 1) };
                foreach (var (ax, ay) in assigned)
                {
                    if (ax < 0 || ay < 0 || ax >= GridWidth || ay >= GridHeight)
                    {
                        continue;
                    }
                    var cell = ay * GridWidth + ax;
                    if (box[4] < MinVisibility)
                    {
                        // Hidden or mostly outside the frame: neither taught as a person nor as empty.
                        if (positive[i * cells + cell] == 0)
                        {
                            weight[i * cells + cell] = 0;
                        }
                        continue;
                    }
                    positive[i * cells + cell] = 1;
                    weight[i * cells + cell] = 1;
                    var t = target.AsSpan(i * 5 * cells);
                    t[0 * cells + cell] = cx / Stride - ax;                // offset in −0.5..1.5
                    t[1 * cells + cell] = cy / Stride - ay;
                    t[2 * cells + cell] = MathF.Log(w / SizeUnit);
                    t[3 * cells + cell] = MathF.Log(h / SizeUnit);
                    t[4 * cells + cell] = 1;
                }
            }
        }
        var output = network.call(x).reshape(indices.Length, 5, cells);
        var targets = tensor(target, [indices.Length, 5, cells]);
        var positives = tensor(positive, [indices.Length, cells]);
        var weights = tensor(weight, [indices.Length, cells]);
        var count = positives.sum().clamp_min(s_one);
        var score = functional.binary_cross_entropy_with_logits(output[.., 4], targets[.., 4], weights, reduction: Reduction.Sum).div(count);
        var offsets = output[.., ..2].sigmoid().mul(s_two).sub(s_half);
        var sizes = output[.., 2..4].clamp(s_minLogSize, s_maxLogSize);
        var predicted = cat([offsets, sizes], 1);
        var boxLoss = functional.smooth_l1_loss(predicted, targets[.., ..4], reduction: Reduction.None).sum(1).mul(positives).sum().div(count);
        return score.add(boxLoss.mul(s_two), s_one);
    }

    /// <summary>
    /// Writes the trained network as ONNX with the YOLOv8 layout: input "images" float [N, 3, 240, 320] (RGB, 0..1),
    /// output "output0" [N, 5, 1200] (centre x, centre y, width, height in input pixels, person score), and the class
    /// names in the model's metadata as Ultralytics writes them.
    /// </summary>
    public static void Export(Sequential network, string path, string docString)
    {
        network.eval();
        var builder = new OnnxGraphBuilder("edge-person-detector", docString);
        var images = builder.Input("images", null, 3, InputHeight, InputWidth);
        var raw = TorchOnnxExporter.ConvLayers(builder, network, images);
        var cells = GridWidth * GridHeight;
        // Cell indices: channel 0 = column, channel 1 = row.
        var grid = new float[2 * cells];
        for (var y = 0; y < GridHeight; y++)
        {
            for (var x = 0; x < GridWidth; x++)
            {
                grid[y * GridWidth + x] = x;
                grid[cells + y * GridWidth + x] = y;
            }
        }
        string SliceChannels(long from, long to, string name) => builder.Node("Slice",
            [raw, builder.Int64Initializer(name + ".starts", from), builder.Int64Initializer(name + ".ends", to), builder.Int64Initializer(name + ".axes", 1)]);
        var offsets = builder.Node("Sub", [builder.Node("Mul", [builder.Sigmoid(SliceChannels(0, 2, "xy")), builder.Initializer("two", [2f], 1)]),
            builder.Initializer("half", [0.5f], 1)]);
        var centres = builder.Node("Mul", [builder.Node("Add", [offsets, builder.Initializer("grid", grid, 1, 2, GridHeight, GridWidth)]),
            builder.Initializer("stride", [Stride], 1)]);
        var clipped = builder.Node("Clip", [SliceChannels(2, 4, "wh"), builder.Initializer("wh.min", [-6f]), builder.Initializer("wh.max", [6f])]);
        var sizes = builder.Node("Mul", [builder.Node("Exp", [clipped]), builder.Initializer("size_unit", [SizeUnit], 1)]);
        var scores = builder.Sigmoid(SliceChannels(4, 5, "score"));
        var all = builder.Node("Concat", [centres, sizes, scores], OnnxGraphBuilder.Int("axis", 1));
        var output = builder.Node("Reshape", [all, builder.Int64Initializer("output.shape", 0, 5, -1)]);
        builder.Output(output, "output0", null, 5, cells);
        builder.Model.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = "names", Value = "{0: 'person'}" });
        builder.Model.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = "stride", Value = Stride.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        builder.Model.MetadataProps.Add(new global::Onnx.StringStringEntryProto { Key = "imgsz", Value = $"[{InputHeight}, {InputWidth}]" });
        builder.Save(path);
    }

    /// <summary>The exported graph's output for frames given as the trainer sees them, computed by TorchSharp: [N, 5, cells].</summary>
    public static float[] Reference(Sequential network, byte[] rgbPixels, int count)
    {
        network.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var x = tensor(rgbPixels, [count, InputHeight, InputWidth, 3], ScalarType.Byte).to_type(ScalarType.Float32).permute(0, 3, 1, 2).div(s_byteRange);
        var raw = network.call(x).reshape(count, 5, GridHeight, GridWidth);
        var columns = arange(s_gridWidth, ScalarType.Float32).reshape(1, 1, GridWidth).expand(1, GridHeight, GridWidth);
        var rows = arange(s_gridHeight, ScalarType.Float32).reshape(1, GridHeight, 1).expand(1, GridHeight, GridWidth);
        var grid = cat([columns, rows], 0).unsqueeze(0);
        var centres = raw[.., ..2].sigmoid().mul(s_two).sub(s_half).add(grid, s_one).mul(s_stride);
        var sizes = raw[.., 2..4].clamp(s_minLogSize, s_maxLogSize).exp().mul(s_sizeUnit);
        var scores = raw[.., 4..5].sigmoid();
        return cat([centres, sizes, scores], 1).reshape(count, 5, -1).contiguous().data<float>().ToArray();
    }
}
