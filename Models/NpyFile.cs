using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Edge.Models;

/// <summary>
/// Float32 row matrices in NumPy's .npy format (version 1.0, little-endian, C order): what <c>edge process</c> writes
/// for the per-frame embeddings and what training reads, and what <c>numpy.load</c> opens as it is.
/// </summary>
public static class NpyFile
{
    private static readonly byte[] s_magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', 1, 0];

    // The header is padded to a fixed size so the row count can be written in place when the file is complete.
    private const int HeaderBytes = 128;

    /// <summary>Reads a 2-D float32 matrix; returns the rows' values back to back and the shape.</summary>
    public static (float[] Values, int Rows, int Columns) Read(string path)
    {
        using var stream = File.OpenRead(path);
        var prefix = new byte[10];
        stream.ReadExactly(prefix);
        if (!prefix.AsSpan(0, 6).SequenceEqual(s_magic.AsSpan(0, 6)) || prefix[6] != 1)
        {
            throw new InvalidDataException($"{path} is not a version 1 .npy file");
        }
        var headerLength = BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8));
        var header = new byte[headerLength];
        stream.ReadExactly(header);
        var text = Encoding.ASCII.GetString(header);
        if (!text.Contains("'descr': '<f4'", StringComparison.Ordinal) || !text.Contains("'fortran_order': False", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path} is not a little-endian float32 C-order matrix: {text.Trim()}");
        }
        var shapeText = text[(text.IndexOf("'shape': (", StringComparison.Ordinal) + 10)..];
        var dims = shapeText[..shapeText.IndexOf(')', StringComparison.Ordinal)]
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        if (dims.Length != 2)
        {
            throw new InvalidDataException($"{path} holds a {dims.Length}-D array, a 2-D matrix was expected");
        }
        var values = new float[checked(dims[0] * dims[1])];
        stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        return (values, dims[0], dims[1]);
    }

    /// <summary>Writes rows as they come; <see cref="Writer.Dispose"/> fixes the row count in the header.</summary>
    public sealed class Writer : IDisposable
    {
        private readonly FileStream _stream;
        private readonly int _columns;

        public Writer(string path, int columns)
        {
            _columns = columns;
            _stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read, 1 << 16);
            WriteHeader(0);
        }

        public long Rows { get; private set; }

        public void Append(ReadOnlySpan<float> row)
        {
            if (row.Length != _columns)
            {
                throw new ArgumentException($"row has {row.Length} values, the matrix has {_columns} columns", nameof(row));
            }
            if (!BitConverter.IsLittleEndian)
            {
                throw new PlatformNotSupportedException("big-endian machines are not supported");
            }
            _stream.Write(MemoryMarshal.AsBytes(row));
            Rows++;
        }

        private void WriteHeader(long rows)
        {
            var dict = string.Create(CultureInfo.InvariantCulture,
                $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {_columns}), }}");
            var padded = dict.PadRight(HeaderBytes - s_magic.Length - 2 - 1) + "\n";
            _stream.Position = 0;
            _stream.Write(s_magic);
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(length, (ushort)padded.Length);
            _stream.Write(length);
            _stream.Write(Encoding.ASCII.GetBytes(padded));
        }

        public void Dispose()
        {
            WriteHeader(Rows);
            _stream.Dispose();
        }
    }
}
