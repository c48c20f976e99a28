using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Capture;

/// <summary>Opens the right <see cref="IFrameSource"/> for a location given on the command line or in config.</summary>
public static class FrameSources
{
    /// <summary>
    /// Opens <paramref name="location"/>: a URL with a scheme (rtsp://, http://, ...), a camera ("0", "/dev/video0"),
    /// an image folder, or a video file. <paramref name="replayAsLive"/> plays a file at its own rate as a live source;
    /// <paramref name="loop"/> also starts it again at its end (video files only).
    /// </summary>
    public static IFrameSource Open(string location, CaptureOptions options, string? streamId = null,
        bool replayAsLive = false, ILogger? logger = null, bool loop = false)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        if (loop && !IsFile(location))
        {
            throw new ArgumentException($"only a video file can loop: {VideoCaptureSource.Redact(location)}", nameof(loop));
        }
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
        return VideoCaptureSource.OpenFile(location, streamId ?? StreamIdFor(location), options, replayAsLive, loop);
    }

    /// <summary>
    /// Opens <paramref name="location"/> as a live stream that survives failures (see <see cref="ReconnectingSource"/>):
    /// a URL or camera is reopened after a backoff when it fails, ends or stalls. A video file plays at its own rate;
    /// with <paramref name="loop"/> it starts again at its end, without it it is reopened like a stream that ended.
    /// Nothing is opened here: the first <see cref="IFrameSource.Read"/> connects, so an unreachable source is a state
    /// to report, not an error.
    /// </summary>
    public static ReconnectingSource OpenLive(string location, CaptureOptions options, ReconnectOptions reconnect,
        string? streamId = null, bool loop = false, ILogger? logger = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        var id = streamId ?? StreamIdFor(location);
        var each = options.WithoutFrameLimit();
        (SourceKind kind, string backend, Func<CancellationToken, IFrameSource> open) = location switch
        {
            _ when loop && !IsFile(location) =>
                throw new ArgumentException($"only a video file can loop: {VideoCaptureSource.Redact(location)}", nameof(loop)),
            _ when IsUrl(location) => (SourceKind.Network, "ffmpeg",
                ct => FfmpegStreamSource.Open(location, id, each, ct)),
            _ when IsCamera(location) => (SourceKind.Camera, "V4L2",
                _ => VideoCaptureSource.OpenCamera(location, id, each)),
            _ when Directory.Exists(location) =>
                throw new ArgumentException($"an image folder is not a live source: {location}", nameof(location)),
            _ => (SourceKind.File, "FFMPEG", (Func<CancellationToken, IFrameSource>)(_ =>
                VideoCaptureSource.OpenFile(location, id, each, replayAsLive: true, loop))),
        };
        var initial = new SourceInfo(kind, VideoCaptureSource.Redact(location), true, options.ResizeWidth, options.ResizeHeight,
            0, null, backend);
        return new ReconnectingSource(id, initial, open, reconnect, options.MaxFrames, logger ?? NullLogger.Instance);
    }

    private static bool IsFile(string location) => !IsUrl(location) && !IsCamera(location) && !Directory.Exists(location);

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
