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
