using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Edge.Models;

/// <summary>
/// Row matrices in NumPy's .npy format (version 1.0, little-endian, C order), float32 or float16: what <c>edge
/// process</c> writes for the per-frame embeddings, what a stream records for learning (grids as float16, half the
/// disk), what training reads, and what <c>numpy.load</c> opens as it is.
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
        var (half, rows, columns) = ParseHeader(Encoding.ASCII.GetString(header), path);
        var values = new float[checked(rows * columns)];
        if (half)
        {
            var raw = new Half[values.Length];
            stream.ReadExactly(MemoryMarshal.AsBytes(raw.AsSpan()));
            for (var i = 0; i < raw.Length; i++)
            {
                values[i] = (float)raw[i];
            }
        }
        else
        {
            stream.ReadExactly(MemoryMarshal.AsBytes(values.AsSpan()));
        }
        return (values, rows, columns);
    }

    private static (bool Half, int Rows, int Columns) ParseHeader(string text, string path)
    {
        var half = text.Contains("'descr': '<f2'", StringComparison.Ordinal);
        if (!(half || text.Contains("'descr': '<f4'", StringComparison.Ordinal)) || !text.Contains("'fortran_order': False", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path} is not a little-endian float32 or float16 C-order matrix: {text.Trim()}");
        }
        var shapeText = text[(text.IndexOf("'shape': (", StringComparison.Ordinal) + 10)..];
        var dims = shapeText[..shapeText.IndexOf(')', StringComparison.Ordinal)]
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.Parse(d, CultureInfo.InvariantCulture)).ToArray();
        if (dims.Length != 2)
        {
            throw new InvalidDataException($"{path} holds a {dims.Length}-D array, a 2-D matrix was expected");
        }
        return (half, dims[0], dims[1]);
    }

    /// <summary>Reads a matrix one row at a time (float16 rows widened), for files larger than memory should hold.</summary>
    public sealed class RowReader : IDisposable
    {
        private readonly FileStream _stream;
        private readonly bool _half;
        private readonly byte[] _buffer;

        public RowReader(string path)
        {
            _stream = File.OpenRead(path);
            var prefix = new byte[10];
            _stream.ReadExactly(prefix);
            if (!prefix.AsSpan(0, 6).SequenceEqual(s_magic.AsSpan(0, 6)) || prefix[6] != 1)
            {
                _stream.Dispose();
                throw new InvalidDataException($"{path} is not a version 1 .npy file");
            }
            var header = new byte[BinaryPrimitives.ReadUInt16LittleEndian(prefix.AsSpan(8))];
            _stream.ReadExactly(header);
            (_half, Rows, Columns) = ParseHeader(Encoding.ASCII.GetString(header), path);
            _buffer = new byte[Columns * (_half ? 2 : 4)];
        }

        public int Rows { get; }

        public int Columns { get; }

        /// <summary>Reads the next row into <paramref name="row"/>; false at the end.</summary>
        public bool Next(Span<float> row)
        {
            if (_stream.ReadAtLeast(_buffer, _buffer.Length, throwOnEndOfStream: false) < _buffer.Length)
            {
                return false;
            }
            if (_half)
            {
                var values = MemoryMarshal.Cast<byte, Half>(_buffer);
                for (var i = 0; i < values.Length; i++)
                {
                    row[i] = (float)values[i];
                }
            }
            else
            {
                MemoryMarshal.Cast<byte, float>(_buffer).CopyTo(row);
            }
            return true;
        }

        public void Dispose() => _stream.Dispose();
    }

    /// <summary>Writes rows as they come; <see cref="Writer.Dispose"/> fixes the row count in the header.</summary>
    public sealed class Writer : IDisposable
    {
        private readonly FileStream _stream;
        private readonly int _columns;
        private readonly bool _half;
        private readonly Half[]? _halfRow;

        /// <param name="half">Store float16 (half the disk; embeddings and grids keep ~3 significant digits).</param>
        public Writer(string path, int columns, bool half = false)
        {
            _columns = columns;
            _half = half;
            _halfRow = half ? new Half[columns] : null;
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
            if (_halfRow is not null)
            {
                for (var i = 0; i < row.Length; i++)
                {
                    _halfRow[i] = (Half)row[i];
                }
                _stream.Write(MemoryMarshal.AsBytes(_halfRow.AsSpan()));
            }
            else
            {
                _stream.Write(MemoryMarshal.AsBytes(row));
            }
            Rows++;
        }

        private void WriteHeader(long rows)
        {
            var dict = string.Create(CultureInfo.InvariantCulture,
                $"{{'descr': '{(_half ? "<f2" : "<f4")}', 'fortran_order': False, 'shape': ({rows}, {_columns}), }}");
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
