using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// Frames from the images in a folder, in ordinal order of their file names. Timestamps follow
/// <see cref="CaptureOptions.FolderFps"/>. Images that cannot be decoded are skipped with a warning and counted.
/// </summary>
public sealed class ImageFolderSource : IFrameSource
{
    private static readonly HashSet<string> s_extensions = new(StringComparer.OrdinalIgnoreCase)
    {
        ".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
    };

    private readonly string[] _files;
    private readonly CaptureOptions _options;
    private readonly ILogger _logger;
    private readonly int _stride;
    private long _position;
    private long _emitted;

    /// <param name="policy">When it has file roots, images whose links lead outside them are left out; null: all.</param>
    public ImageFolderSource(string folder, string streamId, CaptureOptions options, ILogger logger, SourcePolicy? policy = null)
    {
        if (!Directory.Exists(folder))
        {
            throw new CaptureException(CaptureError.NotFound, $"image folder not found: {folder}");
        }
        _files = Directory.EnumerateFiles(folder)
            .Where(f => s_extensions.Contains(Path.GetExtension(f)))
            .Where(f => policy is null || policy.AllowsFile(f))
            .Order(StringComparer.Ordinal)
            .ToArray();
        if (_files.Length == 0)
        {
            throw new CaptureException(CaptureError.Undecodable, $"no images ({string.Join(' ', s_extensions)}) in folder {folder}");
        }
        _options = options;
        _logger = logger;
        StreamId = streamId;
        _stride = Strides.For(options, options.FolderFps);
        var (width, height) = (options.ResizeWidth, options.ResizeHeight);
        if (width == 0 || height == 0)
        {
            using var first = FirstDecodable() ?? throw new CaptureException(CaptureError.Undecodable, $"none of the images in {folder} can be decoded");
            (width, height) = (first.Width, first.Height);
        }
        Info = new SourceInfo(SourceKind.ImageFolder, Redaction.Redact(folder), false, width, height, options.FolderFps, _files.Length, "imread");
    }

    public string StreamId { get; }

    public SourceInfo Info { get; }

    /// <summary>Images skipped because they could not be decoded.</summary>
    public int Skipped { get; private set; }

    private Mat? FirstDecodable()
    {
        foreach (var file in _files)
        {
            var image = Cv2.ImRead(file, ImreadModes.Color);
            if (!image.Empty())
            {
                return image;
            }
            image.Dispose();
        }
        return null;
    }

    public Frame? Read(FramePool pool, CancellationToken ct)
    {
        while (_position < _files.Length)
        {
            if (_options.MaxFrames > 0 && _emitted >= _options.MaxFrames)
            {
                return null;
            }
            ct.ThrowIfCancellationRequested();
            var index = _position;
            _position += _stride;
            using var image = Cv2.ImRead(_files[index], ImreadModes.Color);
            if (image.Empty())
            {
                Skipped++;
                _logger.LogWarning("Skipping {File}: not a decodable image", Redaction.Redact(_files[index]));
                continue;
            }
            var frame = pool.Rent(ct);
            if (image.Width == Info.Width && image.Height == Info.Height)
            {
                image.CopyTo(frame.Image);
            }
            else
            {
                Cv2.Resize(image, frame.Image, new Size(Info.Width, Info.Height), interpolation: InterpolationFlags.Area);
            }
            frame.Stamp(StreamId, index, index * 1000.0 / Info.Fps);
            _emitted++;
            return frame;
        }
        return null;
    }

    public void Dispose()
    {
    }
}
