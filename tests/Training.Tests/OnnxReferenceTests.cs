using Edge.Models.Onnx;
using System.Runtime.InteropServices;
using Edge.Training.Onnx;
using Microsoft.ML.OnnxRuntime;
using Onnx;

namespace Edge.Training.Tests;

/// <summary>
/// The writer's GRU and LSTM nodes against the ONNX project's own reference models and expected outputs (Debian
/// package libonnx-testdata, data/node/test_gru_*, test_lstm_*): the same weights written by Edge's writer must give
/// the reference outputs when run by ONNX Runtime.
/// </summary>
public sealed class OnnxReferenceTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string NodeTests = "/usr/share/libonnx-testdata/data/node";

    public static TheoryData<string> Cases => new()
    {
        "test_gru_defaults", "test_gru_with_initial_bias", "test_gru_seq_length", "test_gru_batchwise",
        "test_lstm_defaults", "test_lstm_with_initial_bias", "test_lstm_batchwise",
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Recurrent_ReferenceWeights_ReproduceReferenceOutputs(string name)
    {
        var folder = Path.Combine(NodeTests, name);
        Assert.True(Directory.Exists(folder), $"{folder} is missing: scripts/setup.sh installs libonnx-testdata");
        var reference = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(folder, "model.onnx")));
        var node = reference.Graph.Node.Single();
        var hidden = (int)node.Attribute.Single(a => a.Name == "hidden_size").I;
        var batchFirst = node.Attribute.SingleOrDefault(a => a.Name == "layout")?.I == 1;
        var linearBeforeReset = node.Attribute.SingleOrDefault(a => a.Name == "linear_before_reset")?.I == 1;
        var inputs = Enumerable.Range(0, node.Input.Count)
            .Select(i => Tensor(Path.Combine(folder, "test_data_set_0", $"input_{i}.pb"))).ToArray();
        var expected = Directory.EnumerateFiles(Path.Combine(folder, "test_data_set_0"), "output_*.pb").Order()
            .Select(Tensor).ToArray();
        var (x, xDims) = inputs[0];
        var (w, wDims) = inputs[1];
        var (r, _) = inputs[2];
        var b = inputs.Length > 3 ? inputs[3].Values : null;

        var builder = new OnnxGraphBuilder(name);
        var input = builder.Input("X", [.. xDims.Select(d => (long?)d)]);
        var timeMajor = batchFirst ? builder.SwapBatchAndTime(input) : input;
        var (sequence, last) = builder.Recurrent(node.OpType, timeMajor, "rnn", hidden, w, wDims[2], r, b, linearBeforeReset);
        var outputs = new List<string>();
        if (node.Output[0].Length > 0)
        {
            // Reference Y: [T, 1, N, H], or [N, T, 1, H] batch-first.
            var y = batchFirst ? builder.SwapBatchAndTime(sequence) : sequence;
            var axis = builder.Int64Initializer("y_axis", batchFirst ? 2 : 1);
            outputs.Add(builder.Output(builder.Node("Unsqueeze", [y, axis]), "Y"));
        }
        // Reference Y_h: [1, N, H], or [N, 1, H] batch-first.
        outputs.Add(builder.Output(batchFirst ? builder.SwapBatchAndTime(last) : last, "Y_h"));

        using var session = new InferenceSession(builder.ToBytes());
        using var xValue = OrtValue.CreateTensorValueFromMemory(x, xDims);
        using var results = session.Run(new RunOptions(), ["X"], [xValue], outputs);
        Assert.Equal(expected.Length, results.Count);
        var maxDiff = 0f;
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.Equal(expected[i].Dims, results[i].GetTensorTypeAndShape().Shape);
            var actual = results[i].GetTensorDataAsSpan<float>().ToArray();
            maxDiff = Math.Max(maxDiff, actual.Zip(expected[i].Values).Max(p => Math.Abs(p.First - p.Second)));
        }
        output.WriteLine($"{name}: max abs difference {maxDiff:E2}");
        Assert.True(maxDiff <= 1e-5f, $"{name}: max abs difference {maxDiff}");
    }

    private static (float[] Values, long[] Dims) Tensor(string path)
    {
        var tensor = TensorProto.Parser.ParseFrom(File.ReadAllBytes(path));
        Assert.Equal((int)TensorProto.Types.DataType.Float, tensor.DataType);
        var values = tensor.RawData.Length > 0
            ? MemoryMarshal.Cast<byte, float>(tensor.RawData.Span).ToArray()
            : [.. tensor.FloatData];
        return (values, [.. tensor.Dims]);
    }
}
