using Edge.Models;

namespace Edge.Training;

/// <summary>
/// Sliding windows over the per-frame embeddings that <c>edge process</c> writes (embeddings.npy), the input of the
/// sequence models: window i holds rows [i·stride, i·stride + length). Reading the same file the pipeline writes
/// keeps training and serving on one definition of a frame's features.
/// </summary>
public sealed class EmbeddingWindows
{
    private readonly float[] _values;

    public EmbeddingWindows(float[] values, int rows, int columns, int length, int stride)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(length, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(stride, 1);
        if (values.Length != rows * columns)
        {
            throw new ArgumentException($"{values.Length} values do not make {rows} rows of {columns}", nameof(values));
        }
        _values = values;
        Columns = columns;
        Length = length;
        Stride = stride;
        Count = rows < length ? 0 : (rows - length) / stride + 1;
    }

    /// <summary>Loads embeddings.npy and checks its width against the frame model's embedding size.</summary>
    public static EmbeddingWindows Load(string npyPath, int expectedColumns, int length, int stride)
    {
        var (values, rows, columns) = NpyFile.Read(npyPath);
        if (columns != expectedColumns)
        {
            throw new InvalidDataException($"{npyPath} holds {columns}-wide embeddings, the model expects {expectedColumns}");
        }
        return new EmbeddingWindows(values, rows, columns, length, stride);
    }

    public int Count { get; }

    public int Columns { get; }

    public int Length { get; }

    public int Stride { get; }

    /// <summary>Window <paramref name="index"/> as <see cref="Length"/> rows back to back.</summary>
    public ReadOnlySpan<float> this[int index]
    {
        get
        {
            ArgumentOutOfRangeException.ThrowIfNegative(index);
            ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
            return _values.AsSpan(index * Stride * Columns, Length * Columns);
        }
    }
}
