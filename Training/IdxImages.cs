using System.Buffers.Binary;
using System.IO.Compression;

namespace Edge.Training;

/// <summary>
/// Images and labels in the idx format of MNIST and Fashion-MNIST (optionally gzip-compressed): images are uint8
/// [count, rows, columns], labels uint8 [count].
/// </summary>
public sealed record IdxImages(byte[] Pixels, byte[] Labels, int Count, int Rows, int Columns)
{
    /// <summary>Fashion-MNIST's class names, in label order.</summary>
    public static readonly string[] FashionMnistLabels =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    public static IdxImages Load(string imagesPath, string labelsPath)
    {
        var images = ReadAll(imagesPath);
        var labels = ReadAll(labelsPath);
        if (BinaryPrimitives.ReadInt32BigEndian(images) != 0x00000803)
        {
            throw new InvalidDataException($"{imagesPath} is not an idx image file (magic 0x803)");
        }
        if (BinaryPrimitives.ReadInt32BigEndian(labels) != 0x00000801)
        {
            throw new InvalidDataException($"{labelsPath} is not an idx label file (magic 0x801)");
        }
        var count = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(4));
        var rows = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(8));
        var columns = BinaryPrimitives.ReadInt32BigEndian(images.AsSpan(12));
        var labelCount = BinaryPrimitives.ReadInt32BigEndian(labels.AsSpan(4));
        if (labelCount != count || images.Length != 16 + count * rows * columns || labels.Length != 8 + count)
        {
            throw new InvalidDataException($"{imagesPath} and {labelsPath} disagree: {count} images, {labelCount} labels, or a file is truncated");
        }
        return new IdxImages(images[16..], labels[8..], count, rows, columns);
    }

    /// <summary>The first <paramref name="count"/> images, or all of them.</summary>
    public IdxImages Take(int count)
    {
        count = Math.Min(count, Count);
        return new IdxImages(Pixels[..(count * Rows * Columns)], Labels[..count], count, Rows, Columns);
    }

    private static byte[] ReadAll(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"idx file not found: {path}", path);
        }
        using var file = File.OpenRead(path);
        using Stream stream = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : file;
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        return memory.ToArray();
    }
}
