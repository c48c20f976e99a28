using Edge.Models.Onnx;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Edge.Training.Onnx;

/// <summary>
/// Writes trained TorchSharp networks as ONNX (TorchSharp has no ONNX export): a <see cref="Sequential"/> of
/// Conv2d, BatchNorm2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d(1), Flatten, Linear, Dropout (dropped),
/// Softmax and Sigmoid, and <see cref="SequenceNetwork"/> (GRU or LSTM, any number of layers). Weights are read
/// from the modules in eval mode; BatchNorm uses its running statistics.
/// </summary>
public static class TorchOnnxExporter
{
    /// <summary>How image input is fed: raw uint8 NHWC pixels, normalised inside the graph as (x·scale − mean) / std.</summary>
    public sealed record ImageInput(int Height, int Width, int Channels, float Scale, float[] Mean, float[] Std);

    /// <summary>
    /// Exports an image network whose graph input is uint8 NHWC "images" [N, H, W, C]; the graph casts, transposes
    /// and normalises, so callers pass OpenCV pixels as they are. The output "scores" is [N, outputs].
    /// </summary>
    public static OnnxGraphBuilder ExportImageNetwork(Sequential network, ImageInput input, string name, bool softmax)
    {
        var builder = new OnnxGraphBuilder(name);
        var images = builder.Input("images", global::Onnx.TensorProto.Types.DataType.Uint8, null, input.Height, input.Width, input.Channels);
        var x = builder.Node("Cast", [images], OnnxGraphBuilder.Int("to", (long)global::Onnx.TensorProto.Types.DataType.Float));
        x = builder.Node("Transpose", [x], OnnxGraphBuilder.Ints("perm", 0, 3, 1, 2));
        var c = input.Channels;
        x = builder.Node("Mul", [x, builder.Initializer("input.scale", [input.Scale], 1)]);
        x = builder.Node("Sub", [x, builder.Initializer("input.mean", input.Mean, 1, c, 1, 1)]);
        x = builder.Node("Div", [x, builder.Initializer("input.std", input.Std, 1, c, 1, 1)]);
        var (y, outputs) = Layers(builder, network, x);
        if (softmax)
        {
            y = builder.Softmax(y);
        }
        builder.Output(y, "scores", null, outputs);
        return builder;
    }

    /// <summary>Exports a network over feature vectors: input "features" [N, F], output "scores" [N, outputs].</summary>
    public static OnnxGraphBuilder ExportVectorNetwork(Sequential network, int features, string name, bool softmax)
    {
        var builder = new OnnxGraphBuilder(name);
        var x = builder.Input("features", null, features);
        var (y, outputs) = Layers(builder, network, x);
        if (softmax)
        {
            y = builder.Softmax(y);
        }
        builder.Output(y, "scores", null, outputs);
        return builder;
    }

    /// <summary>
    /// Exports a <see cref="SequenceNetwork"/> trained on standardised features ((x − mean) / std, done in the graph).
    /// Activity: input "windows" [N, T, F], output "scores" [N, classes] (softmax). Anomaly (<paramref name="anomaly"/>
    /// given): input "windows" [N, T + 1, F] of raw embeddings; the graph scales each to unit length, the network reads
    /// the first T frames and predicts frame T + 1, and the graph outputs "score" [N] as <see cref="AnomalyScore"/>
    /// defines it (standardised prediction error plus standardised two-sided motion energy), so serving computes
    /// exactly what training measured.
    /// Batch-first RNNs run time-major between two Transposes; gates are reordered from PyTorch's layout to ONNX's and
    /// GRUs use linear_before_reset=1, as PyTorch computes them.
    /// </summary>
    public static OnnxGraphBuilder ExportSequence(SequenceNetwork network, int windowLength, float[] mean, float[] std,
        string name, AnomalyScore? anomaly)
    {
        var builder = new OnnxGraphBuilder(name);
        var features = network.InputSize;
        var windows = builder.Input("windows", null, anomaly is null ? windowLength : windowLength + 1, features);
        var x = windows;
        string? unit = null;
        if (anomaly is not null)
        {
            unit = x = builder.Node("LpNormalization", [windows], OnnxGraphBuilder.Int("axis", -1), OnnxGraphBuilder.Int("p", 2));
        }
        x = builder.Node("Sub", [x, builder.Initializer("features.mean", mean, features)]);
        x = builder.Node("Div", [x, builder.Initializer("features.std", std, features)]);
        if (anomaly is null)
        {
            var scores = SequenceLayers(builder, network, builder.SwapBatchAndTime(x));
            builder.Output(builder.Softmax(scores), "scores", null, network.Outputs);
            return builder;
        }
        var target = Slice(builder, x, windowLength, windowLength + 1, "target");
        target = builder.Node("Squeeze", [target, builder.Int64Initializer("target.axis", 1)]);
        var prediction = SequenceLayers(builder, network, builder.SwapBatchAndTime(Slice(builder, x, 0, windowLength, "history")));
        var error = builder.Node("Sub", [prediction, target]);
        error = builder.Node("Mul", [error, error]);
        error = builder.Node("ReduceMean", [error], OnnxGraphBuilder.Ints("axes", 1), OnnxGraphBuilder.Int("keepdims", 0));
        var errorTerm = Standardise(builder, error, "error", anomaly.ErrorMean, anomaly.ErrorStd);

        var step = builder.Node("Sub", [Slice(builder, unit!, windowLength, windowLength + 1, "newest"),
            Slice(builder, unit!, windowLength - 1, windowLength, "previous")]);
        step = builder.Node("ReduceL2", [step], OnnxGraphBuilder.Ints("axes", 1, 2), OnnxGraphBuilder.Int("keepdims", 0));
        var motion = builder.Node("Add", [step, Scalar(builder, "motion.epsilon", AnomalyScore.MotionEpsilon)]);
        motion = builder.Node("Div", [motion, Scalar(builder, "motion.median", anomaly.MotionMedian)]);
        motion = builder.Node("Abs", [builder.Node("Log", [motion])]);
        var motionTerm = Standardise(builder, motion, "motion", anomaly.MotionMean, anomaly.MotionStd);
        builder.Output(builder.Node("Add", [errorTerm, motionTerm]), "score", [null]);
        return builder;
    }

    private static string Standardise(OnnxGraphBuilder builder, string x, string name, float mean, float std) =>
        builder.Node("Div", [builder.Node("Sub", [x, Scalar(builder, name + ".mean", mean)]), Scalar(builder, name + ".std", std)]);

    private static string Scalar(OnnxGraphBuilder builder, string name, float value) => builder.Initializer(name, [value], 1);

    private static string Slice(OnnxGraphBuilder builder, string x, long start, long end, string name) =>
        builder.Node("Slice", [x, builder.Int64Initializer(name + ".starts", start), builder.Int64Initializer(name + ".ends", end),
            builder.Int64Initializer(name + ".axes", 1)]);

    /// <summary>The recurrent layers over time-major [T, N, F] and the linear head on the last step: [N, outputs].</summary>
    private static string SequenceLayers(OnnxGraphBuilder builder, SequenceNetwork network, string x)
    {
        var parameters = network.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var (op, order) = network.Cell == RecurrentCell.Gru ? ("GRU", RecurrentWeights.GruOrder) : ("LSTM", RecurrentWeights.LstmOrder);
        var h = network.HiddenSize;
        long inputSize = network.InputSize;
        if (network.MotionScale > 0)
        {
            // Time-major [T, N, F]: the previous frame of step t is step t − 1, of step 0 step 0 itself.
            var first = builder.Node("Slice", [x, builder.Int64Initializer("motion.first.starts", 0), builder.Int64Initializer("motion.first.ends", 1),
                builder.Int64Initializer("motion.axes", 0)]);
            var rest = builder.Node("Slice", [x, builder.Int64Initializer("motion.rest.starts", 0), builder.Int64Initializer("motion.rest.ends", -1),
                builder.Int64Initializer("motion.rest.axes", 0)]);
            var previous = builder.Node("Concat", [first, rest], OnnxGraphBuilder.Int("axis", 0));
            x = builder.Node("Mul", [builder.Node("Sub", [x, previous]), builder.Initializer("motion.scale", [network.MotionScale])]);
        }
        for (var layer = 0; layer < network.Layers; layer++)
        {
            var w = RecurrentWeights.Reorder(Values(parameters[$"rnn.weight_ih_l{layer}"]), order, h, (int)inputSize);
            var r = RecurrentWeights.Reorder(Values(parameters[$"rnn.weight_hh_l{layer}"]), order, h, h);
            var b = RecurrentWeights.Bias(Values(parameters[$"rnn.bias_ih_l{layer}"]), Values(parameters[$"rnn.bias_hh_l{layer}"]), order, h);
            (x, _) = builder.Recurrent(op, x, $"rnn.l{layer}", h, w, inputSize, r, b, linearBeforeReset: true);
            inputSize = h;
        }
        // Last time step of the time-major sequence [T, N, H] → [N, H].
        var last = builder.Node("Gather", [x, builder.Int64Initializer("last_step", -1)], OnnxGraphBuilder.Int("axis", 0));
        last = builder.Node("Squeeze", [last, builder.Int64Initializer("squeeze_time", 0)]);
        return builder.Linear(last, "head", Values(parameters["head.weight"]), network.Outputs, h, Values(parameters["head.bias"]));
    }

    /// <summary>The layers of a fully convolutional network (no Linear at the end), e.g. a detector: its output value.</summary>
    public static string ConvLayers(OnnxGraphBuilder builder, Sequential network, string x) => Layers(builder, network, x, requireLinear: false).Output;

    private static (string Output, long Width) Layers(OnnxGraphBuilder builder, Sequential network, string x, bool requireLinear = true)
    {
        long width = -1;
        foreach (var (name, module) in network.named_children())
        {
            switch (module)
            {
                case Conv2d conv:
                    if (conv.padding is null || conv.padding_mode != TorchSharp.PaddingModes.Zeros)
                    {
                        throw new NotSupportedException($"{name}: only explicit zero padding can be exported");
                    }
                    x = builder.Conv(x, name, Values(conv.weight!), conv.weight!.shape, conv.bias is null ? null : Values(conv.bias),
                        conv.stride, conv.padding, conv.dilation, conv.groups);
                    break;
                case BatchNorm2d bn:
                    x = builder.BatchNorm(x, name, Values(bn.weight!), Values(bn.bias!), Values(bn.running_mean!), Values(bn.running_var!), (float)bn.eps);
                    break;
                case ReLU:
                    x = builder.Relu(x);
                    break;
                case Sigmoid:
                    x = builder.Sigmoid(x);
                    break;
                case Softmax softmax:
                    x = builder.Softmax(x, softmax.dim);
                    break;
                case MaxPool2d pool when !pool.ceil_mode && pool.dilation.All(d => d == 1):
                    x = builder.MaxPool(x, pool.kernel_size, pool.stride ?? pool.kernel_size, pool.padding ?? [0, 0]);
                    break;
                case AvgPool2d pool when !pool.ceil_mode && pool.divisor_override is null:
                    x = builder.AveragePool(x, pool.kernel_size, pool.stride ?? pool.kernel_size, pool.padding ?? [0, 0], pool.count_include_pad);
                    break;
                case AdaptiveAvgPool2d pool when pool.output_size.All(s => s == 1):
                    x = builder.GlobalAveragePool(x);
                    break;
                case Flatten flatten when flatten.start_dim == 1 && flatten.end_dim == -1:
                    x = builder.Flatten(x);
                    break;
                case Dropout:
                    break; // identity at inference
                case Linear linear:
                    x = builder.Linear(x, name, Values(linear.weight!), linear.out_features, linear.in_features,
                        linear.bias is null ? null : Values(linear.bias));
                    width = linear.out_features;
                    break;
                default:
                    throw new NotSupportedException($"layer '{name}' ({module.GetType().Name}) cannot be exported to ONNX");
            }
        }
        if (width < 0 && requireLinear)
        {
            throw new NotSupportedException("the network must end in a Linear layer");
        }
        return (x, width);
    }

    private static float[] Values(Tensor tensor)
    {
        // The detached, CPU and contiguous views are native tensors too: the scope frees them.
        using var scope = NewDisposeScope();
        return tensor.detach().cpu().contiguous().data<float>().ToArray();
    }
}
