using Google.Protobuf;
using Onnx;

namespace Edge.Models.Onnx;

/// <summary>
/// Writes an ONNX graph (opset 17, IR 8) node by node from weights held as plain arrays (Edge's one ONNX writer: the
/// trained models, the anomaly scoring graphs and the frame model's preparation use it): the layer helpers emit the
/// node patterns Edge's exported models use (Gemm with transB=1, batch-first RNNs run as layout 0 between two
/// Transposes, because ONNX Runtime's CPU kernels reject layout=1). Values get unique names; the batch axis of
/// inputs and outputs is the symbolic "N".
/// </summary>
public sealed class OnnxGraphBuilder
{
    public const int Opset = 17;
    public const string BatchAxis = "N";

    private readonly ModelProto _model;
    private readonly GraphProto _graph;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _counter;

    public OnnxGraphBuilder(string graphName, string? docString = null)
    {
        _graph = new GraphProto { Name = graphName };
        _model = new ModelProto
        {
            IrVersion = 8,
            ProducerName = "Edge",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            Graph = _graph,
            DocString = docString ?? "",
        };
        _model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
    }

    public ModelProto Model => _model;

    /// <summary>Declares a float graph input; dims given as null are the symbolic batch axis.</summary>
    public string Input(string name, params long?[] dims) => Input(name, TensorProto.Types.DataType.Float, dims);

    public string Input(string name, TensorProto.Types.DataType type, params long?[] dims)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, dims));
        return name;
    }

    /// <summary>Declares <paramref name="value"/> a graph output under <paramref name="name"/> (adding an Identity if needed).</summary>
    public string Output(string value, string name, params long?[] dims)
    {
        if (value != name)
        {
            Claim(name);
            _graph.Node.Add(MakeNode("Identity", [value], [name], []));
        }
        _graph.Output.Add(ValueInfo(name, TensorProto.Types.DataType.Float, dims));
        return name;
    }

    /// <summary>Adds a float constant.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        var count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != values.Length)
        {
            throw new ArgumentException($"initializer {name}: {values.Length} values for shape [{string.Join(',', dims)}]");
        }
        var unique = Unique(name);
        var tensor = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Float };
        tensor.Dims.AddRange(dims);
        tensor.RawData = ByteString.CopyFrom(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values));
        _graph.Initializer.Add(tensor);
        return unique;
    }

    /// <summary>Adds an int64 constant (shapes, axes).</summary>
    public string Int64Initializer(string name, params long[] values)
    {
        var unique = Unique(name);
        var tensor = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Dims.Add(values.Length);
        tensor.Int64Data.AddRange(values);
        _graph.Initializer.Add(tensor);
        return unique;
    }

    /// <summary>Adds an int64 scalar constant (a Gather index that drops its axis).</summary>
    public string Int64Scalar(string name, long value)
    {
        var unique = Unique(name);
        var tensor = new TensorProto { Name = unique, DataType = (int)TensorProto.Types.DataType.Int64 };
        tensor.Int64Data.Add(value);
        _graph.Initializer.Add(tensor);
        return unique;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string op, string[] inputs, params AttributeProto[] attributes) =>
        Node(op, inputs, 1, attributes)[0];

    /// <summary>Adds a node with <paramref name="outputs"/> outputs and returns their names.</summary>
    public string[] Node(string op, string[] inputs, int outputs, params AttributeProto[] attributes)
    {
        var names = Enumerable.Range(0, outputs).Select(i => Unique($"{op.ToLowerInvariant()}{(outputs > 1 ? "_" + i : "")}")).ToArray();
        _graph.Node.Add(MakeNode(op, inputs, names, attributes));
        return names;
    }

    // ---- layers ----------------------------------------------------------------------------------------------

    /// <summary>Conv2d: weight [out, in/groups, kh, kw], optional bias [out].</summary>
    public string Conv(string x, string prefix, float[] weight, long[] weightDims, float[]? bias,
        long[] strides, long[] pads, long[] dilations, long groups)
    {
        var inputs = new List<string> { x, Initializer(prefix + ".weight", weight, weightDims) };
        if (bias is not null)
        {
            inputs.Add(Initializer(prefix + ".bias", bias, weightDims[0]));
        }
        return Node("Conv", [.. inputs],
            Ints("kernel_shape", weightDims[2], weightDims[3]), Ints("strides", strides),
            Ints("pads", pads[0], pads[1], pads[0], pads[1]), Ints("dilations", dilations), Int("group", groups));
    }

    /// <summary>BatchNorm2d in inference mode, with the running statistics.</summary>
    public string BatchNorm(string x, string prefix, float[] scale, float[] bias, float[] mean, float[] variance, float epsilon)
    {
        long c = scale.Length;
        return Node("BatchNormalization",
            [x, Initializer(prefix + ".weight", scale, c), Initializer(prefix + ".bias", bias, c),
             Initializer(prefix + ".running_mean", mean, c), Initializer(prefix + ".running_var", variance, c)],
            Float("epsilon", epsilon));
    }

    public string Relu(string x) => Node("Relu", [x]);

    public string Sigmoid(string x) => Node("Sigmoid", [x]);

    public string Softmax(string x, long axis = -1) => Node("Softmax", [x], Int("axis", axis));

    public string Flatten(string x, long axis = 1) => Node("Flatten", [x], Int("axis", axis));

    public string MaxPool(string x, long[] kernel, long[] strides, long[] pads) =>
        Node("MaxPool", [x], Ints("kernel_shape", kernel), Ints("strides", strides), Ints("pads", pads[0], pads[1], pads[0], pads[1]));

    public string AveragePool(string x, long[] kernel, long[] strides, long[] pads, bool countIncludePad) =>
        Node("AveragePool", [x], Ints("kernel_shape", kernel), Ints("strides", strides), Ints("pads", pads[0], pads[1], pads[0], pads[1]),
            Int("count_include_pad", countIncludePad ? 1 : 0));

    public string GlobalAveragePool(string x) => Node("GlobalAveragePool", [x]);

    /// <summary>Linear: y = x·Wᵀ + b, weight [out, in] as PyTorch stores it.</summary>
    public string Linear(string x, string prefix, float[] weight, long outFeatures, long inFeatures, float[]? bias)
    {
        var inputs = new List<string> { x, Initializer(prefix + ".weight", weight, outFeatures, inFeatures) };
        if (bias is not null)
        {
            inputs.Add(Initializer(prefix + ".bias", bias, outFeatures));
        }
        return Node("Gemm", [.. inputs], Int("transB", 1));
    }

    /// <summary>[N, T, F] ↔ [T, N, F].</summary>
    public string SwapBatchAndTime(string x) => Node("Transpose", [x], Ints("perm", 1, 0, 2));

    /// <summary>
    /// One unidirectional GRU or LSTM layer over time-major input [T, N, F] with weights already in ONNX gate order
    /// (W [1, gates·H, F], R [1, gates·H, H], B [1, 2·gates·H]). Returns Y as [T, N, H] and the last hidden state
    /// [1, N, H].
    /// </summary>
    public (string Sequence, string LastHidden) Recurrent(string op, string x, string prefix, int hidden,
        float[] w, long inputSize, float[] r, float[]? b, bool linearBeforeReset)
    {
        var gates = op == "GRU" ? 3 : op == "LSTM" ? 4 : throw new ArgumentException("GRU or LSTM", nameof(op));
        var inputs = new List<string>
        {
            x,
            Initializer(prefix + ".W", w, 1, gates * hidden, inputSize),
            Initializer(prefix + ".R", r, 1, gates * hidden, hidden),
        };
        if (b is not null)
        {
            inputs.Add(Initializer(prefix + ".B", b, 1, 2 * gates * hidden));
        }
        var attributes = new List<AttributeProto> { Int("hidden_size", hidden) };
        if (op == "GRU")
        {
            attributes.Add(Int("linear_before_reset", linearBeforeReset ? 1 : 0));
        }
        var outputs = Node(op, [.. inputs], 2, [.. attributes]);
        // Y is [T, num_directions = 1, N, H].
        var sequence = Node("Squeeze", [outputs[0], Int64Initializer(prefix + ".squeeze_axes", 1)]);
        return (sequence, outputs[1]);
    }

    // ---- attributes ------------------------------------------------------------------------------------------

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var attribute = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        attribute.Ints.AddRange(values);
        return attribute;
    }

    /// <summary>Writes the model through a temporary file, so an interrupted or failed export leaves no model behind (nor the temporary file).</summary>
    public void Save(string path)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temp = path + ".tmp";
        try
        {
            using (var stream = File.Create(temp))
            {
                _model.WriteTo(stream);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
            throw;
        }
    }

    public byte[] ToBytes() => _model.ToByteArray();

    /// <summary>A node proto named after its first output, for editing an existing graph.</summary>
    public static NodeProto MakeNode(string op, string[] inputs, string[] outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = outputs[0] };
        node.Input.AddRange(inputs);
        node.Output.AddRange(outputs);
        node.Attribute.AddRange(attributes);
        return node;
    }

    /// <summary>A tensor's type and shape; dims given as null are the symbolic batch axis.</summary>
    public static ValueInfoProto ValueInfo(string name, TensorProto.Types.DataType type, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var dim in dims)
        {
            shape.Dim.Add(dim is { } value
                ? new TensorShapeProto.Types.Dimension { DimValue = value }
                : new TensorShapeProto.Types.Dimension { DimParam = BatchAxis });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = shape } },
        };
    }

    private void Claim(string name)
    {
        if (!_names.Add(name))
        {
            throw new ArgumentException($"value name '{name}' is already used", nameof(name));
        }
    }

    private string Unique(string name)
    {
        var candidate = name;
        while (!_names.Add(candidate))
        {
            candidate = $"{name}_{++_counter}";
        }
        return candidate;
    }
}
