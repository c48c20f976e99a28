using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Capture;

/// <summary>Opens the right <see cref="IFrameSource"/> for a location given on the command line or in config.</summary>
public static class FrameSources
{
    /// <summary>
    /// Opens <paramref name="location"/>: a URL with a scheme (rtsp://, http://, ...), a camera ("0", "/dev/video0"),
    /// an image folder, or a video file. <paramref name="replayAsLive"/> plays a file at its own rate as a live source.
    /// </summary>
    public static IFrameSource Open(string location, CaptureOptions options, string? streamId = null,
        bool replayAsLive = false, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        if (IsUrl(location))
        {
            return FfmpegStreamSource.Open(location, streamId ?? StreamIdFor(location), options);
        }
        if (IsCamera(location))
        {
            return VideoCaptureSource.OpenCamera(location, streamId ?? StreamIdFor(location), options);
        }
        if (Directory.Exists(location))
        {
            return new ImageFolderSource(location, streamId ?? StreamIdFor(location), options, logger ?? NullLogger.Instance);
        }
        return VideoCaptureSource.OpenFile(location, streamId ?? StreamIdFor(location), options, replayAsLive);
    }

    public static bool IsUrl(string location) => location.Contains("://", StringComparison.Ordinal);

    public static bool IsCamera(string location) =>
        int.TryParse(location, out _) || location.StartsWith("/dev/video", StringComparison.Ordinal);

    /// <summary>A short, readable stream id: the file or folder name, "camera0", or the URL's host and path.</summary>
    public static string StreamIdFor(string location)
    {
        if (IsUrl(location) && Uri.TryCreate(location, UriKind.Absolute, out var uri))
        {
            return (uri.Host + uri.AbsolutePath).TrimEnd('/').Replace('/', '-');
        }
        if (IsCamera(location))
        {
            return "camera" + location.Replace("/dev/video", "", StringComparison.Ordinal);
        }
        return Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(location));
    }
}
