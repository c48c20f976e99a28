using System.Text.RegularExpressions;

namespace Edge.Capture;

/// <summary>A source a <see cref="SourcePolicy"/> allowed, and how to open it.</summary>
/// <param name="Kind">What it is. A path that does not exist is a <see cref="SourceKind.File"/> (opening it says so).</param>
/// <param name="Location">The source as given, credentials removed: the only form to show or log.</param>
/// <param name="OpenPath">What to open: the URL as given (credentials included: never show it), the camera, or for a
/// policy with file roots the path with every symbolic link and ".." resolved, so the file checked is the file opened.</param>
/// <param name="Scheme">The URL scheme in lower case (network sources); null otherwise.</param>
/// <param name="ProtocolWhitelist">The ffmpeg protocols the scheme needs (network sources); null otherwise.</param>
public sealed record AllowedSource(SourceKind Kind, string Location, string OpenPath, string? Scheme, string? ProtocolWhitelist);

/// <summary>
/// Decides which sources may be opened, before anything is opened. Every caller of <see cref="FrameSources"/> passes
/// one: <see cref="CommandLine"/> (the user names the file: any file, allowed URL schemes, cameras) or
/// <see cref="ForService"/> (streams added through the API or config of an unattended service: files only under
/// <see cref="SourcesOptions.FileRoots"/>). Both refuse every URL scheme that is not allowed (file:, concat:, subfile:,
/// data:, pipe:, tcp:, udp:, lavfi-style and unknown ones) with a <see cref="CaptureError.Refused"/> error, and give
/// each allowed scheme the ffmpeg protocol whitelist it needs, so a redirect or playlist cannot reach another protocol.
/// Immutable; safe to share between threads.
/// </summary>
public sealed partial class SourcePolicy
{
    public const string DefaultSchemes = "rtsp,rtsps,http,https";

    /// <summary>Link hops followed when resolving a path, as Linux's ELOOP limit.</summary>
    private const int MaxLinkHops = 40;

    /// <summary>
    /// The ffmpeg protocols each allowable scheme needs: RTSP is a demuxer that opens tcp (interleaved, as Edge asks)
    /// or rtp/udp, and tls for rtsps; HTTP may be redirected between http and https. Nothing here reads local files.
    /// </summary>
    private static readonly Dictionary<string, string> s_whitelists = new(StringComparer.Ordinal)
    {
        ["rtsp"] = "rtsp,rtp,udp,tcp",
        ["rtsps"] = "rtsp,rtsps,rtp,udp,tcp,tls",
        ["http"] = "http,https,tcp,tls",
        ["https"] = "http,https,tcp,tls",
        ["rtmp"] = "rtmp,tcp",
        ["rtmps"] = "rtmp,rtmps,tcp,tls",
        ["tcp"] = "tcp",
        ["udp"] = "udp",
        ["rtp"] = "rtp,udp",
        ["srt"] = "srt",
    };

    private readonly HashSet<string> _schemes;
    private readonly bool _allowCameras;
    private readonly string[]? _roots;

    private SourcePolicy(IEnumerable<string> schemes, bool allowCameras, string[]? roots)
    {
        _schemes = new HashSet<string>(schemes, StringComparer.Ordinal);
        _allowCameras = allowCameras;
        _roots = roots;
    }

    /// <summary>Schemes a policy can allow (each has a protocol whitelist); anything else is always refused.</summary>
    public static IReadOnlyList<string> SupportedSchemes { get; } = [.. s_whitelists.Keys];

    /// <summary>
    /// For sources the user names on the command line (<c>edge process FILE</c>): any file or image folder, cameras,
    /// rtsp/rtsps/http/https URLs.
    /// </summary>
    public static SourcePolicy CommandLine { get; } = new(ParseSchemes(DefaultSchemes), allowCameras: true, roots: null);

    /// <summary>The command line with the configured schemes and cameras; files anywhere, as the user names them.</summary>
    public static SourcePolicy ForCommandLine(SourcesOptions options)
    {
        options.Validate();
        return new SourcePolicy(ParseSchemes(options.Schemes), options.AllowCameras, roots: null);
    }

    /// <summary>
    /// For an unattended service: the configured schemes and cameras, and files only under the configured roots
    /// (resolved now, links included); with no roots, no file at all. Throws <see cref="System.ComponentModel.DataAnnotations.ValidationException"/>
    /// for invalid options.
    /// </summary>
    public static SourcePolicy ForService(SourcesOptions options)
    {
        options.Validate();
        var roots = options.FileRoots.Select(r => ResolvePath(r)).Distinct(StringComparer.Ordinal).ToArray();
        return new SourcePolicy(ParseSchemes(options.Schemes), options.AllowCameras, roots);
    }

    /// <summary>Allowed URL schemes, lower case.</summary>
    public IReadOnlyCollection<string> Schemes => _schemes;

    public bool AllowsCameras => _allowCameras;

    /// <summary>The resolved folders files must be under; null when any file may be opened.</summary>
    public IReadOnlyList<string>? FileRoots => _roots;

    /// <summary>The ffmpeg protocol whitelist for <paramref name="scheme"/>; throws for an unsupported scheme.</summary>
    public static string ProtocolWhitelist(string scheme) =>
        s_whitelists.TryGetValue(scheme.ToLowerInvariant(), out var whitelist) ? whitelist
            : throw new ArgumentException($"no protocol whitelist for scheme '{scheme}'", nameof(scheme));

    /// <summary>
    /// Checks <paramref name="source"/> without opening anything and returns how to open it, or throws
    /// <see cref="CaptureException"/> with <see cref="CaptureError.Refused"/> and a message saying why. The message
    /// is the same for a path outside the roots whether or not it exists.
    /// </summary>
    public AllowedSource Check(string source)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(source);
        if (source.Any(char.IsControl))
        {
            throw Refused("the source contains control characters");
        }
        var location = Redaction.Redact(source);
        switch (Classify(source, out var scheme))
        {
            case SourceShape.Camera:
                return _allowCameras ? new AllowedSource(SourceKind.Camera, location, source, null, null)
                    : throw Refused($"cameras are not allowed (Sources:AllowCameras): {location}");
            case SourceShape.Url:
                if (!_schemes.Contains(scheme!))
                {
                    throw Refused($"'{scheme}:' sources are not allowed; allowed URL schemes: {string.Join(", ", _schemes.Order())} (Sources:Schemes)");
                }
                if (!WellFormedUrl().IsMatch(source))
                {
                    throw Refused($"not a {scheme}://host/... URL: {location}");
                }
                return new AllowedSource(SourceKind.Network, location, source, scheme, s_whitelists[scheme!]);
            default:
                if (_roots is null)
                {
                    return new AllowedSource(Directory.Exists(source) ? SourceKind.ImageFolder : SourceKind.File, location, source, null, null);
                }
                var resolved = ResolvePath(source);
                if (!IsUnderRoots(resolved))
                {
                    throw Refused(_roots.Length == 0
                        ? $"files are not allowed for this stream (no folder in Sources:FileRoots): {location}"
                        : $"files are read only from the folders in Sources:FileRoots: {location}");
                }
                return new AllowedSource(Directory.Exists(resolved) ? SourceKind.ImageFolder : SourceKind.File, location, resolved, null, null);
        }
    }

    /// <summary>Whether <paramref name="path"/>, links resolved, may be read under this policy (always, without roots).</summary>
    public bool AllowsFile(string path) => _roots is null || IsUnderRoots(ResolvePath(path));

    private bool IsUnderRoots(string resolved) => _roots!.Any(root =>
        root == "/" || resolved == root || resolved.StartsWith(root + "/", StringComparison.Ordinal));

    private static CaptureException Refused(string why) => new(CaptureError.Refused, "source refused: " + why);

    internal enum SourceShape
    {
        Camera,
        Url,
        Path,
    }

    /// <summary>
    /// A camera is a device number or /dev/videoN and nothing else; anything that starts like "scheme:" (two or more
    /// characters, so not a drive letter) is a URL whether or not "//" follows (concat:a|b, data:..., pipe:0); the
    /// rest is a path. A file whose name starts like a scheme is opened as ./name.
    /// </summary>
    internal static SourceShape Classify(string source, out string? scheme)
    {
        scheme = null;
        if (Camera().IsMatch(source))
        {
            return SourceShape.Camera;
        }
        var match = SchemePrefix().Match(source);
        if (match.Success)
        {
            scheme = match.Groups["scheme"].Value.ToLowerInvariant();
            return SourceShape.Url;
        }
        return SourceShape.Path;
    }

    internal static IEnumerable<string> ParseSchemes(string? schemes) =>
        (schemes ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => s.ToLowerInvariant()).Distinct();

    /// <summary>
    /// The absolute path with every symbolic link followed, component by component, and ".." taken after the links
    /// before it are resolved (as the kernel does). Components that do not exist are kept as written.
    /// </summary>
    internal static string ResolvePath(string path)
    {
        var absolute = Path.IsPathRooted(path) ? path : Path.Join(Environment.CurrentDirectory, path);
        var pending = new Stack<string>(absolute.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = "/";
        var hops = 0;
        while (pending.TryPop(out var part))
        {
            if (part == ".")
            {
                continue;
            }
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            var next = current == "/" ? "/" + part : current + "/" + part;
            string? target;
            try
            {
                target = new FileInfo(next).LinkTarget;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                target = null;
            }
            if (target is null)
            {
                current = next;
                continue;
            }
            if (++hops > MaxLinkHops)
            {
                throw Refused("too many levels of symbolic links");
            }
            if (target.StartsWith('/'))
            {
                current = "/";
            }
            foreach (var component in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            {
                pending.Push(component);
            }
        }
        return current;
    }

    [GeneratedRegex(@"^(?:[0-9]{1,4}|/dev/video[0-9]{1,4})$")]
    private static partial Regex Camera();

    [GeneratedRegex(@"^(?<scheme>[A-Za-z][A-Za-z0-9+.\-]+):")]
    private static partial Regex SchemePrefix();

    /// <summary>scheme://authority, with no blank anywhere: the only shape handed to ffmpeg.</summary>
    [GeneratedRegex(@"^[A-Za-z][A-Za-z0-9+.\-]+://[^/?#\s]+[^\s]*$")]
    private static partial Regex WellFormedUrl();
}
