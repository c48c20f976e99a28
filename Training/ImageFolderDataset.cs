using Edge.Models;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Edge.Training;

/// <summary>
/// Labeled images from a folder with one subfolder per class (the folder name is the label). Images are decoded by
/// OpenCV, resized to one size (said once when sizes differ) and packed as uint8 NHWC; files that cannot be decoded
/// are skipped with a warning and counted.
/// </summary>
public static class ImageFolderDataset
{
    private static readonly HashSet<string> s_extensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
    };

    public sealed record Loaded(ImageClassifierTrainer.Data Data, string[] Labels, int Skipped);

    public static Loaded Load(string folder, int width, int height, bool grayscale, ILogger logger)
    {
        if (!Directory.Exists(folder))
        {
            throw new TrainingDataException($"dataset folder not found: {folder}");
        }
        var classes = Directory.GetDirectories(folder).Order(StringComparer.Ordinal)
            .Select(d => (Name: Path.GetFileName(d), Files: Directory.GetFiles(d).Where(f => s_extensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToArray()))
            .Where(c => c.Files.Length > 0).ToArray();
        if (classes.Length == 0)
        {
            throw new TrainingDataException($"no images in {folder}: expected one subfolder of images per class");
        }
        if (classes.Length == 1)
        {
            throw new TrainingDataException($"only one class ('{classes[0].Name}') in {folder}: a classifier needs at least two");
        }
        var channels = grayscale ? 1 : 3;
        var imageBytes = width * height * channels;
        var pixels = new List<byte>();
        var labels = new List<long>();
        var skipped = 0;
        var resizedSaid = false;
        using var resized = new Mat();
        for (var label = 0; label < classes.Length; label++)
        {
            foreach (var file in classes[label].Files)
            {
                using var image = Cv2.ImRead(file, grayscale ? ImreadModes.Grayscale : ImreadModes.Color);
                if (image.Empty())
                {
                    skipped++;
                    logger.LogWarning("Skipping {File}: not a decodable image", file);
                    continue;
                }
                if ((image.Width != width || image.Height != height) && !resizedSaid)
                {
                    logger.LogInformation("Images of other sizes (first: {File}, {W}x{H}) are resized to {Width}x{Height}", file, image.Width, image.Height, width, height);
                    resizedSaid = true;
                }
                Cv2.Resize(image, resized, new Size(width, height), interpolation: InterpolationFlags.Area);
                var bytes = new byte[imageBytes];
                System.Runtime.InteropServices.Marshal.Copy(resized.Data, bytes, 0, imageBytes);
                pixels.AddRange(bytes);
                labels.Add(label);
            }
        }
        if (labels.Distinct().Count() < 2)
        {
            throw new TrainingDataException($"fewer than two classes in {folder} have decodable images ({skipped} files skipped)");
        }
        return new Loaded(new ImageClassifierTrainer.Data([.. pixels], [.. labels], labels.Count, height, width, channels),
            [.. classes.Select(c => c.Name)], skipped);
    }
}
