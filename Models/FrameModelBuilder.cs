using Google.Protobuf;
using Edge.Models.Onnx;
using Onnx;

namespace Edge.Models;

/// <summary>
/// Prepares the default frame model from the pretrained ResNet18 ImageNet featurizer (NuGet package
/// Microsoft.ML.DnnImageFeaturizer.ResNet18, copied beside the binaries under featurizer/). The package ships the
/// network with a fixed batch of 1 and float BGR-planar input minus a per-pixel mean image. Preparation prepends
/// Cast(uint8→float), Transpose(NHWC→NCHW) and Sub(mean image) to the graph, makes the batch axis symbolic and
/// flattens the output to [N, 512], so callers pass raw OpenCV BGR bytes and 4× fewer bytes cross to the device.
/// A second output, "grid", is the backbone's spatial feature map from the same forward pass (layer3, transposed to
/// [N, 14, 14, 256] so that each cell's channels are contiguous): the anomaly models read it to see where.
/// </summary>
public static class FrameModelBuilder
{
    public const string DefaultModelFile = "resnet18-frame.onnx";
    public const string InputName = "frames";
    public const string OutputName = "embedding";
    public const string GridOutputName = "grid";
    private const string FeaturizerInput = "Input247";
    private const string FeaturizerOutput = "Pooling395_Output_0";

    /// <summary>
    /// The output of ResNet18's layer3 (the Relu closing its last residual block, stride 16): 256 channels on a 14×14
    /// grid. Chosen over layer4 (7×7×512, stride 32) because at 224×224 a pedestrian of vtest.avi is 8–20 pixels
    /// tall: a 16-pixel cell still sees one person, a 32-pixel cell mostly sees background.
    /// </summary>
    private const string FeaturizerGrid = "ReLU347_Output_0";
    private const int GridChannels = 256;
    private const int GridSize = 14;
    private const string MeanImage = "MeanImage";
    private const int Size = 224;
    private const int EmbeddingSize = 512;

    /// <summary>The featurizer files the build copies beside the binaries.</summary>
    public static string FeaturizerDirectory => Path.Combine(AppContext.BaseDirectory, "featurizer");

    public static string FeaturizerPath => Path.Combine(FeaturizerDirectory, "ResNet18.onnx");

    public static string PreprocessPath => Path.Combine(FeaturizerDirectory, "ResNetPreprocess.onnx");

    /// <summary>
    /// Writes the prepared model to <paramref name="outputPath"/> and its manifest beside it, each through a temporary
    /// file so an interrupted run leaves nothing that looks complete. Returns the manifest.
    /// </summary>
    public static ModelManifest PrepareResNet18(string outputPath, string? featurizerPath = null, string? preprocessPath = null)
    {
        featurizerPath ??= FeaturizerPath;
        preprocessPath ??= PreprocessPath;
        var model = Load(featurizerPath);
        var preprocess = Load(preprocessPath);
        var mean = preprocess.Graph.Initializer.FirstOrDefault(t => t.Name == MeanImage)
            ?? throw new ModelException(ModelError.Invalid, $"{preprocessPath} has no {MeanImage} initializer");
        var graph = model.Graph;
        if (graph.Input.All(i => i.Name != FeaturizerInput) || graph.Output.All(o => o.Name != FeaturizerOutput)
            || graph.Node.All(n => !n.Output.Contains(FeaturizerGrid)))
        {
            throw new ModelException(ModelError.Invalid, $"{featurizerPath} is not the ResNet18 featurizer (input {FeaturizerInput}, output {FeaturizerOutput}, layer3 {FeaturizerGrid})");
        }

        // Initializers listed as graph inputs (IR 3) would show up as model inputs; IR 4 allows them to be constants.
        graph.RemoveInitializersFromInputs();
        model.IrVersion = Math.Max(model.IrVersion, 4);
        graph.ValueInfo.Clear();
        graph.Input.Remove(graph.Input.Single(i => i.Name == FeaturizerInput));
        graph.Output.Clear();
        graph.Initializer.Add(mean);

        graph.Input.Add(TensorInfo(InputName, TensorProto.Types.DataType.Uint8, null, Size, Size, 3));
        graph.Node.Insert(0, Node("Cast", [InputName], ["frames_float"], OnnxGraphBuilder.Int("to", (long)TensorProto.Types.DataType.Float)));
        graph.Node.Insert(1, Node("Transpose", ["frames_float"], ["frames_nchw"], OnnxGraphBuilder.Ints("perm", 0, 3, 1, 2)));
        graph.Node.Insert(2, Node("Sub", ["frames_nchw", MeanImage], [FeaturizerInput]));
        graph.Node.Add(Node("Flatten", [FeaturizerOutput], [OutputName], OnnxGraphBuilder.Int("axis", 1)));
        graph.Output.Add(TensorInfo(OutputName, TensorProto.Types.DataType.Float, null, EmbeddingSize));
        graph.Node.Add(Node("Transpose", [FeaturizerGrid], [GridOutputName], OnnxGraphBuilder.Ints("perm", 0, 2, 3, 1)));
        graph.Output.Add(TensorInfo(GridOutputName, TensorProto.Types.DataType.Float, null, GridSize, GridSize, GridChannels));
        graph.Name = "resnet18_frame";
        model.DocString = "ResNet18 ImageNet featurizer (Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1) taking uint8 BGR NHWC frames";

        var directory = Path.GetDirectoryName(Path.GetFullPath(outputPath))!;
        Directory.CreateDirectory(directory);
        var temp = outputPath + ".tmp";
        using (var stream = File.Create(temp))
        {
            model.WriteTo(stream);
        }
        var manifest = new ModelManifest
        {
            Name = Path.GetFileNameWithoutExtension(outputPath),
            Kind = ModelManifest.FrameEmbeddingKind,
            InputName = InputName,
            InputWidth = Size,
            InputHeight = Size,
            InputLayout = "NHWC",
            ChannelOrder = "BGR",
            InputElementType = "uint8",
            Normalization = "in-graph",
            OutputNames = [OutputName, GridOutputName],
            EmbeddingSize = EmbeddingSize,
            Grid = new GridDescription(GridOutputName, GridChannels, GridSize, GridSize, "layer3"),
            Source = "Microsoft.ML.DnnImageFeaturizer.ResNet18 0.23.1 (ImageNet), batch axis made symbolic, uint8 NHWC input, mean image subtracted in the graph",
        };
        manifest.Save(ModelManifest.PathFor(outputPath));
        File.Move(temp, outputPath, overwrite: true);
        return manifest;
    }

    /// <summary>Where the fp16 copy of the frame model at <paramref name="modelPath"/> lies: <c>NAME-fp16.onnx</c> beside it.</summary>
    public static string Float16PathFor(string modelPath) =>
        Path.Combine(Path.GetDirectoryName(modelPath) ?? "", Path.GetFileNameWithoutExtension(modelPath) + "-fp16" + Path.GetExtension(modelPath));

    /// <summary>
    /// Writes an fp16 copy of the prepared frame model at <paramref name="modelPath"/> to <paramref name="outputPath"/>
    /// (default <see cref="Float16PathFor"/>) with its manifest: every float initializer (weights, batch-norm
    /// statistics, the mean image) becomes float16, the input cast produces float16, and each output is cast back to
    /// float, so that callers see the same uint8 input and float outputs (ONNX Runtime's keep-io-types conversion).
    /// Every node of this graph (Conv, BatchNormalization, Relu, pools, Add, Sub, Transpose, Flatten) is defined for
    /// float16. On CUDA the layers then run in fp16 (with <see cref="ModelOptions.CudaPreferNhwc"/>, on tensor cores);
    /// the CPU has no fp16 kernels for them and ONNX Runtime casts around each node, so it computes in fp32 with fp16
    /// weights and fp16 values between layers. Written through temporary files like the model itself.
    /// </summary>
    public static ModelManifest WriteFloat16(string modelPath, string? outputPath = null)
    {
        outputPath ??= Float16PathFor(modelPath);
        var model = Load(modelPath);
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        var graph = model.Graph;
        // Batch normalisation folded into the convolutions first, in fp32: this network reads 0-255 pixels, and its
        // first layers' running variances (and the products inside the layer) are beyond fp16's 65,504.
        FoldBatchNormalization(graph);
        foreach (var tensor in graph.Initializer.Where(t => t.DataType == (int)TensorProto.Types.DataType.Float))
        {
            var values = FloatValues(tensor);
            var halves = new Half[values.Length];
            for (var i = 0; i < values.Length; i++)
            {
                halves[i] = (Half)values[i];
            }
            tensor.FloatData.Clear();
            tensor.DataType = (int)TensorProto.Types.DataType.Float16;
            tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(halves.AsSpan()));
        }
        foreach (var cast in graph.Node.Where(n => n.OpType == "Cast"))
        {
            foreach (var to in cast.Attribute.Where(a => a.Name == "to" && a.I == (long)TensorProto.Types.DataType.Float))
            {
                to.I = (long)TensorProto.Types.DataType.Float16;
            }
        }
        if (graph.Node.Any(n => n.OpType is not ("Cast" or "Transpose" or "Sub" or "Conv" or "BatchNormalization" or "Relu" or "MaxPool" or "Add" or "AveragePool" or "Flatten")))
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath} has layers the fp16 conversion does not know: {string.Join(", ", graph.Node.Select(n => n.OpType).Distinct())}");
        }
        foreach (var output in graph.Output)
        {
            var half = output.Name + "_fp16";
            foreach (var node in graph.Node)
            {
                for (var i = 0; i < node.Output.Count; i++)
                {
                    if (node.Output[i] == output.Name)
                    {
                        node.Output[i] = half;
                    }
                }
            }
            var cast = Node("Cast", [half], [output.Name], OnnxGraphBuilder.Int("to", (long)TensorProto.Types.DataType.Float));
            cast.Name = output.Name + "_to_float";
            graph.Node.Add(cast);
        }
        graph.Name += "_fp16";
        model.DocString += "; weights and activations in float16 (float outputs)";
        var temp = outputPath + ".tmp";
        using (var stream = File.Create(temp))
        {
            model.WriteTo(stream);
        }
        var half16 = manifest with
        {
            Name = Path.GetFileNameWithoutExtension(outputPath),
            Source = manifest.Source + "; converted to float16 by Edge (float outputs kept)",
        };
        half16.Save(ModelManifest.PathFor(outputPath));
        File.Move(temp, outputPath, overwrite: true);
        return half16;
    }

    /// <summary>
    /// Replaces every BatchNormalization that reads a Conv's output alone by new weights and bias of that Conv:
    /// W' = W·γ/√(σ²+ε) per output channel, b' = (b − μ)·γ/√(σ²+ε) + β (what ONNX Runtime does when it optimises
    /// the graph, done here once, in fp32).
    /// </summary>
    private static void FoldBatchNormalization(GraphProto graph)
    {
        var initializers = graph.Initializer.ToDictionary(t => t.Name);
        float[] Values(string name) => initializers.TryGetValue(name, out var t)
            ? FloatValues(t)
            : throw new ModelException(ModelError.Invalid, $"batch normalisation input {name} is not a constant");
        void Set(TensorProto tensor, float[] values)
        {
            tensor.FloatData.Clear();
            tensor.DataType = (int)TensorProto.Types.DataType.Float;
            tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));
        }
        foreach (var norm in graph.Node.Where(n => n.OpType == "BatchNormalization").ToList())
        {
            var conv = graph.Node.SingleOrDefault(n => n.OpType == "Conv" && n.Output.Count == 1 && n.Output[0] == norm.Input[0]);
            if (conv is null || graph.Node.Count(n => n.Input.Contains(norm.Input[0])) != 1 || norm.Output.Count != 1)
            {
                continue;
            }
            var epsilon = norm.Attribute.FirstOrDefault(a => a.Name == "epsilon")?.F ?? 1e-5f;
            var (gamma, beta, mean, variance) = (Values(norm.Input[1]), Values(norm.Input[2]), Values(norm.Input[3]), Values(norm.Input[4]));
            var weightTensor = initializers[conv.Input[1]];
            var weights = Values(conv.Input[1]);
            var channels = gamma.Length;
            var perChannel = weights.Length / channels;
            var bias = conv.Input.Count > 2 ? Values(conv.Input[2]) : new float[channels];
            for (var m = 0; m < channels; m++)
            {
                var factor = gamma[m] / MathF.Sqrt(variance[m] + epsilon);
                for (var k = 0; k < perChannel; k++)
                {
                    weights[m * perChannel + k] *= factor;
                }
                bias[m] = (bias[m] - mean[m]) * factor + beta[m];
            }
            Set(weightTensor, weights);
            if (conv.Input.Count > 2)
            {
                Set(initializers[conv.Input[2]], bias);
            }
            else
            {
                var biasTensor = new TensorProto { Name = conv.Input[1] + "_folded_bias" };
                biasTensor.Dims.Add(channels);
                Set(biasTensor, bias);
                graph.Initializer.Add(biasTensor);
                conv.Input.Add(biasTensor.Name);
            }
            conv.Output[0] = norm.Output[0];
            graph.Node.Remove(norm);
        }
        var used = graph.Node.SelectMany(n => n.Input).ToHashSet();
        foreach (var unused in graph.Initializer.Where(t => !used.Contains(t.Name)).ToList())
        {
            graph.Initializer.Remove(unused);
        }
    }

    /// <summary>A float tensor's values, stored raw or as float_data.</summary>
    private static float[] FloatValues(TensorProto tensor) => tensor.RawData.Length > 0
        ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray()
        : [.. tensor.FloatData];

    private static ModelProto Load(string path)
    {
        if (!File.Exists(path))
        {
            throw new ModelException(ModelError.NotFound, $"featurizer file not found: {path} (it is copied beside the binaries by the build)");
        }
        try
        {
            return ModelProto.Parser.ParseFrom(File.ReadAllBytes(path));
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelException(ModelError.Invalid, $"{path} is not an ONNX model: {ex.Message}", ex);
        }
    }

    private static NodeProto Node(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes) =>
        OnnxGraphBuilder.MakeNode(op, inputs, outputs, attributes);

    private static ValueInfoProto TensorInfo(string name, TensorProto.Types.DataType type, params long?[] dims) =>
        OnnxGraphBuilder.ValueInfo(name, type, dims);
}
