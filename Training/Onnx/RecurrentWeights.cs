namespace Edge.Training.Onnx;

/// <summary>
/// PyTorch → ONNX weight layout for recurrent layers. PyTorch stacks GRU gates r, z, n and LSTM gates i, f, g, o;
/// ONNX wants z, r, h and i, o, f, c. Biases are concatenated: B = [b_ih | b_hh].
/// </summary>
public static class RecurrentWeights
{
    /// <summary>Block order taking PyTorch's GRU gates (r, z, n) to ONNX's (z, r, h).</summary>
    public static readonly int[] GruOrder = [1, 0, 2];

    /// <summary>Block order taking PyTorch's LSTM gates (i, f, g, o) to ONNX's (i, o, f, c).</summary>
    public static readonly int[] LstmOrder = [0, 3, 1, 2];

    /// <summary>Reorders the gate blocks (each <paramref name="rowsPerGate"/>×<paramref name="columns"/>) of a stacked matrix.</summary>
    public static float[] Reorder(ReadOnlySpan<float> stacked, int[] order, int rowsPerGate, int columns)
    {
        var block = rowsPerGate * columns;
        if (stacked.Length != block * order.Length)
        {
            throw new ArgumentException($"{stacked.Length} values are not {order.Length} gates of {rowsPerGate}x{columns}");
        }
        var result = new float[stacked.Length];
        for (var i = 0; i < order.Length; i++)
        {
            stacked.Slice(order[i] * block, block).CopyTo(result.AsSpan(i * block, block));
        }
        return result;
    }

    /// <summary>B = [reordered b_ih | reordered b_hh]; a missing bias is zeros.</summary>
    public static float[] Bias(ReadOnlySpan<float> inputBias, ReadOnlySpan<float> hiddenBias, int[] order, int hidden)
    {
        var gates = order.Length * hidden;
        var result = new float[2 * gates];
        if (!inputBias.IsEmpty)
        {
            Reorder(inputBias, order, hidden, 1).CopyTo(result, 0);
        }
        if (!hiddenBias.IsEmpty)
        {
            Reorder(hiddenBias, order, hidden, 1).CopyTo(result, gates);
        }
        return result;
    }
}
