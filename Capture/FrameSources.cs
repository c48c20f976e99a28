using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Capture;

/// <summary>
/// Opens the right <see cref="IFrameSource"/> for a location given on the command line or in config, after the
/// caller's <see cref="SourcePolicy"/> allowed it: <see cref="SourcePolicy.CommandLine"/> when none is given (the user
/// named the source), <see cref="SourcePolicy.ForService"/> for streams of the unattended service.
/// </summary>
public static partial class FrameSources
{
    /// <summary>
    /// Opens <paramref name="location"/>: a URL with an allowed scheme (rtsp://, http://, ...), a camera ("0",
    /// "/dev/video0"), an image folder, or a video file. <paramref name="replayAsLive"/> plays a file at its own rate as
    /// a live source; <paramref name="loop"/> also starts it again at its end (video files only). A source the policy
    /// does not allow fails with <see cref="CaptureError.Refused"/> before anything is opened.
    /// </summary>
    public static IFrameSource Open(string location, CaptureOptions options, string? streamId = null,
        bool replayAsLive = false, ILogger? logger = null, bool loop = false, SourcePolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        policy ??= SourcePolicy.CommandLine;
        var allowed = policy.Check(location);
        logger ??= NullLogger.Instance;
        if (loop && allowed.Kind != SourceKind.File)
        {
            throw new ArgumentException($"only a video file can loop: {allowed.Location}", nameof(loop));
        }
        var id = streamId ?? StreamIdFor(location);
        switch (allowed.Kind)
        {
            case SourceKind.Network:
                try
                {
                    return FfmpegStreamSource.Start(allowed.OpenPath, allowed.Location, allowed.Scheme!, allowed.ProtocolWhitelist!,
                        id, options, logger, CancellationToken.None);
                }
                catch (CaptureException ex) when (ex.Detail is not null)
                {
                    // The user sees the coarse message; why ffmpeg failed goes to the log.
                    logger.LogWarning("{Stream}: {Error} ({Detail})", id, ex.Message, ex.Detail);
                    throw;
                }
            case SourceKind.Camera:
                return VideoCaptureSource.OpenCamera(allowed.OpenPath, id, options);
            case SourceKind.ImageFolder:
                return new ImageFolderSource(allowed.OpenPath, id, options, logger, policy);
            default:
                return VideoCaptureSource.OpenFile(allowed.OpenPath, allowed.Location, id, options, replayAsLive, loop);
        }
    }

    /// <summary>
    /// Opens <paramref name="location"/> as a live stream that survives failures (see <see cref="ReconnectingSource"/>):
    /// a URL or camera is reopened after a backoff when it fails, ends or stalls. A video file plays at its own rate;
    /// with <paramref name="loop"/> it starts again at its end, without it it is reopened like a stream that ended.
    /// The policy (default <see cref="SourcePolicy.CommandLine"/>; a service passes <see cref="SourcePolicy.ForService"/>)
    /// is applied here, once: a refused source throws <see cref="CaptureException"/> (<see cref="CaptureError.Refused"/>)
    /// at once, and a file is reopened at the path checked then. Nothing is opened here: the first
    /// <see cref="IFrameSource.Read"/> connects, so an unreachable source is a state to report, not an error.
    /// </summary>
    public static ReconnectingSource OpenLive(string location, CaptureOptions options, ReconnectOptions reconnect,
        string? streamId = null, bool loop = false, ILogger? logger = null, SourcePolicy? policy = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(location);
        var allowed = (policy ?? SourcePolicy.CommandLine).Check(location);
        var id = streamId ?? StreamIdFor(location);
        var each = options.WithoutFrameLimit();
        logger ??= NullLogger.Instance;
        var sourceLogger = logger;
        (string backend, Func<CancellationToken, IFrameSource> open) = allowed.Kind switch
        {
            _ when loop && allowed.Kind != SourceKind.File =>
                throw new ArgumentException($"only a video file can loop: {allowed.Location}", nameof(loop)),
            SourceKind.Network => ("ffmpeg", ct => FfmpegStreamSource.Start(allowed.OpenPath, allowed.Location, allowed.Scheme!,
                allowed.ProtocolWhitelist!, id, each, sourceLogger, ct)),
            SourceKind.Camera => ("V4L2", _ => VideoCaptureSource.OpenCamera(allowed.OpenPath, id, each)),
            SourceKind.ImageFolder =>
                throw new ArgumentException($"an image folder is not a live source: {allowed.Location}", nameof(location)),
            _ => ("FFMPEG", (Func<CancellationToken, IFrameSource>)(_ =>
                VideoCaptureSource.OpenFile(allowed.OpenPath, allowed.Location, id, each, replayAsLive: true, loop))),
        };
        // Before the first connection the size is what capture will make of it: the resize, within the live bound.
        var size = options.ResizeWidth > 0 && options.ResizeHeight > 0
            ? FrameShaping.Fit(new OpenCvSharp.Size(options.ResizeWidth, options.ResizeHeight), options.MaxFramePixels)
            : new OpenCvSharp.Size(0, 0);
        var initial = new SourceInfo(allowed.Kind, allowed.Location, true, size.Width, size.Height, 0, null, backend);
        return new ReconnectingSource(id, initial, open, reconnect, options.MaxFrames, logger);
    }

    /// <summary>Whether <paramref name="location"/> is written as a URL ("scheme:..."), allowed or not.</summary>
    public static bool IsUrl(string location) =>
        SourcePolicy.Classify(location, out _) == SourcePolicy.SourceShape.Url;

    /// <summary>Whether <paramref name="location"/> names a camera: a device number or /dev/videoN.</summary>
    public static bool IsCamera(string location) =>
        SourcePolicy.Classify(location, out _) == SourcePolicy.SourceShape.Camera;

    /// <summary>
    /// A short, readable stream id: the file or folder name, "camera0", or the URL's host and path (from the redacted
    /// URL, so a camera that takes its password in the path does not put it in folder names).
    /// </summary>
    public static string StreamIdFor(string location)
    {
        if (IsUrl(location) && Uri.TryCreate(Redaction.Redact(location), UriKind.Absolute, out var uri))
        {
            return NotInId().Replace((uri.Host + uri.AbsolutePath).TrimEnd('/').Replace('/', '-'), "_");
        }
        if (IsCamera(location))
        {
            return "camera" + location.Replace("/dev/video", "", StringComparison.Ordinal);
        }
        return Path.GetFileNameWithoutExtension(Path.TrimEndingDirectorySeparator(location));
    }

    [GeneratedRegex(@"[^A-Za-z0-9._\-]")]
    private static partial Regex NotInId();
}
