using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// Frames from a network stream (rtsp://, http:// MJPEG, ...) decoded by an ffmpeg child process. The FFmpeg inside
/// OpenCvSharp's runtime package is built without network protocols, so streams go through the system's ffmpeg
/// (Debian package ffmpeg), as Frigate does: ffmpeg writes YUV4MPEG2 to its stdout, whose header gives the frame size
/// and rate; each frame is read into a buffer owned by this source and converted to BGR in the leased frame.
/// The URL never appears on ffmpeg's command line or in its environment (both readable by other local users through
/// ps and /proc): it is written to ffmpeg's stdin as a one-entry ffconcat script, which also carries the input's
/// options and the protocol whitelist of its scheme. ffmpeg scales frames above
/// <see cref="CaptureOptions.MaxFramePixels"/> down before they reach Edge.
/// The source owns the child process and kills it when disposed.
/// </summary>
public sealed class FfmpegStreamSource : IFrameSource
{
    private const string FrameMarker = "FRAME";

    /// <summary>
    /// How long ffmpeg studies an RTSP stream before the first frame. Its default (up to 5 s; 3 s measured on an H.264
    /// stream) delays every reconnect; one second still finds the size and frame rate of a camera's stream.
    /// </summary>
    private const string AnalyzeMicroseconds = "1000000";

    /// <summary>
    /// What a user or API hears about any failing network source: one text for a closed port, an open port that is
    /// not a video stream, a host that does not answer and refused credentials. The reason is for the log only.
    /// </summary>
    internal static string NoAnswer(string location) =>
        $"stream did not answer: {location} (or it is not a video stream; check the address, port and credentials)";

    /// <summary>Environment variables ffmpeg keeps; the rest (EDGE_* with a camera URL, proxies) stays with Edge.</summary>
    private static readonly string[] s_environment = ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR"];

    private static int s_decodeLogged;
    private readonly Process _ffmpeg;
    private readonly Stream _stdout;
    private readonly CaptureOptions _options;
    private readonly byte[] _yuv;
    private readonly Mat _yuvMat;
    private readonly FrameShaping _shaping;
    private readonly LastLines _lastError;
    private readonly ILogger _logger;
    private long _position;
    private long _emitted;

    private FfmpegStreamSource(Process ffmpeg, string streamId, string location, int width, int height, double fps,
        CaptureOptions options, LastLines lastError, ILogger logger)
    {
        _ffmpeg = ffmpeg;
        _stdout = ffmpeg.StandardOutput.BaseStream;
        _options = options;
        _lastError = lastError;
        _logger = logger;
        StreamId = streamId;
        _yuv = new byte[width * height * 3 / 2];
        _yuvMat = Mat.FromPixelData(height * 3 / 2, width, MatType.CV_8UC1, _yuv);
        _shaping = new FrameShaping(options, width, height, isLive: true);
        Info = new SourceInfo(SourceKind.Network, location, true, _shaping.Resize?.Width ?? width, _shaping.Resize?.Height ?? height, fps, null, "ffmpeg");
    }

    public string StreamId { get; }

    public SourceInfo Info { get; }

    /// <summary>The ffmpeg child's process id (tests read its /proc entries).</summary>
    internal int ProcessId => _ffmpeg.Id;

    /// <summary>
    /// Checks <paramref name="url"/> against <paramref name="policy"/> (default <see cref="SourcePolicy.CommandLine"/>),
    /// starts ffmpeg on it and waits up to <see cref="CaptureOptions.OpenTimeoutMs"/> for the first bytes of video.
    /// A source that is not an allowed URL is <see cref="CaptureError.Refused"/>; a stream that does not answer in
    /// time, refuses the connection or the credentials, or is not video is <see cref="CaptureError.Unreachable"/> with
    /// one message for all of them (ffmpeg's reason is in <see cref="CaptureException.Detail"/>).
    /// Cancelling <paramref name="ct"/> stops the wait with <see cref="OperationCanceledException"/>.
    /// </summary>
    public static FfmpegStreamSource Open(string url, string streamId, CaptureOptions options, CancellationToken ct = default,
        SourcePolicy? policy = null, ILogger? logger = null)
    {
        var allowed = (policy ?? SourcePolicy.CommandLine).Check(url);
        if (allowed.Kind != SourceKind.Network)
        {
            throw new CaptureException(CaptureError.Refused, $"source refused: not a network URL: {allowed.Location}");
        }
        return Start(allowed.OpenPath, allowed.Location, allowed.Scheme!, allowed.ProtocolWhitelist!, streamId, options,
            logger ?? NullLogger.Instance, ct);
    }

    /// <summary>Starts ffmpeg on a URL a policy allowed, reading only through the protocols in <paramref name="whitelist"/>.</summary>
    internal static FfmpegStreamSource Start(string url, string location, string scheme, string whitelist, string streamId,
        CaptureOptions options, ILogger logger, CancellationToken ct)
    {
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        KeepOnly(info.Environment, s_environment);
        // The script is read from stdin ("pipe"): the outer input needs no other protocol, and the stream's own
        // protocols come from the script's whitelist, which replaces the outer one for the stream and whatever it
        // redirects to or lists (HLS, DASH, SDP).
        foreach (var arg in (string[])["-hide_banner", "-nostdin", "-loglevel", "error", "-protocol_whitelist", "pipe",
                     .. HardwareDecode.InputArguments(options.HardwareDecode, location),
                     "-f", "concat", "-safe", "0", "-i", "pipe:0",
                     // Every decoded frame once, as it comes: for a constant-rate output (YUV4MPEG2) ffmpeg would
                     // otherwise repeat the frame before a gap in the stream's timestamps to fill it (and drop
                     // frames that come early), a frozen picture to the anomaly model. Frames are timed on arrival.
                     // (-vsync, not -fps_mode: ffmpeg before 5.1 knows only -vsync.)
                     "-map", "0:v:0", "-an", "-vsync", "passthrough", "-vf", ScaleFilter(options.MaxFramePixels), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"])
        {
            info.ArgumentList.Add(arg);
        }
        if (options.HardwareDecode == HardwareDecodeMode.Auto && Interlocked.Exchange(ref s_decodeLogged, 1) == 0)
        {
            logger.LogInformation(HardwareDecode.CudaAvailable(out var reason)
                ? "Network streams are decoded on the GPU (ffmpeg -hwaccel cuda){Reason}"
                : "Network streams are decoded on the CPU: ffmpeg cannot use CUDA here ({Reason})", reason);
        }
        Process ffmpeg;
        try
        {
            ffmpeg = Process.Start(info) ?? throw new Win32Exception("not started");
        }
        catch (Win32Exception)
        {
            throw new CaptureException(CaptureError.Unreachable,
                $"network streams need ffmpeg, which was not found (Debian: apt-get install ffmpeg); cannot open {location}");
        }
        var lastError = new LastLines();
        ffmpeg.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                lastError.Add(e.Data.Trim());
            }
        };
        ffmpeg.BeginErrorReadLine();
        try
        {
            WriteScript(ffmpeg, Script(url, scheme, whitelist, options));
            var header = ReadHeader(ffmpeg.StandardOutput.BaseStream, options.OpenTimeoutMs, ct);
            if (header is null)
            {
                if (ffmpeg.WaitForExit(200))
                {
                    // It exited (refused, not found): the untimed wait returns once its error output has been read to
                    // the end, so the reason it gave ("401 Unauthorized") is in lastError rather than still in the pipe.
                    ffmpeg.WaitForExit();
                }
                var reason = lastError.Text ?? $"no video within {options.OpenTimeoutMs} ms";
                throw new CaptureException(CaptureError.Unreachable, NoAnswer(location), $"ffmpeg: {reason}");
            }
            var (width, height, fps) = header.Value;
            return new FfmpegStreamSource(ffmpeg, streamId, location, width, height, fps, options, lastError, logger);
        }
        catch
        {
            Kill(ffmpeg);
            ffmpeg.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The ffconcat script that names the stream: the URL in single quotes (a quote inside written as '\''), then the
    /// options of that input, which ffmpeg applies to it alone. A policy refuses URLs with control characters, so
    /// the URL cannot end its line and add directives.
    /// </summary>
    internal static string Script(string url, string scheme, string whitelist, CaptureOptions options)
    {
        if (url.Any(char.IsControl))
        {
            throw new CaptureException(CaptureError.Refused, "source refused: the source contains control characters");
        }
        var timeoutMicroseconds = (options.ReadTimeoutMs * 1000L).ToString(CultureInfo.InvariantCulture);
        var script = new StringBuilder("ffconcat version 1.0\n");
        script.Append("file '").Append(url.Replace("'", @"'\''", StringComparison.Ordinal)).Append("'\n");
        script.Append("option protocol_whitelist ").Append(whitelist).Append('\n');
        if (scheme is "rtsp" or "rtsps")
        {
            script.Append("option rtsp_transport tcp\n");
            script.Append("option timeout ").Append(timeoutMicroseconds).Append('\n');
            script.Append("option analyzeduration ").Append(AnalyzeMicroseconds).Append('\n');
        }
        else
        {
            script.Append("option rw_timeout ").Append(timeoutMicroseconds).Append('\n');
        }
        return script.ToString();
    }

    /// <summary>
    /// ffmpeg's scale filter for frames above <paramref name="maxPixels"/>: the largest even size of the same aspect
    /// ratio within the bound (as <see cref="FrameShaping.Fit"/> computes); frames within it pass unchanged.
    /// </summary>
    internal static string ScaleFilter(int maxPixels)
    {
        var max = maxPixels.ToString(CultureInfo.InvariantCulture);
        string Side(string side) => $"if(gt(iw*ih,{max}),max(2,floor({side}*sqrt({max}/(iw*ih))/2)*2),{side})";
        return $"scale=w='{Side("iw")}':h='{Side("ih")}'";
    }

    private static void WriteScript(Process ffmpeg, string script)
    {
        try
        {
            var stdin = ffmpeg.StandardInput.BaseStream;
            stdin.Write(new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(script));
            stdin.Flush();
            ffmpeg.StandardInput.Close();
        }
        catch (IOException)
        {
            // ffmpeg ended before reading its script; its last line says why.
        }
    }

    private static void KeepOnly(IDictionary<string, string?> environment, string[] names)
    {
        foreach (var name in environment.Keys.Where(k => !names.Contains(k, StringComparer.Ordinal)).ToList())
        {
            environment.Remove(name);
        }
    }

    /// <summary>Reads "YUV4MPEG2 W768 H576 F10:1 ..." within the timeout; null if none came.</summary>
    private static (int Width, int Height, double Fps)? ReadHeader(Stream stdout, int timeoutMs, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(timeoutMs);
        string? line;
        try
        {
            line = ReadLineAsync(stdout, timeout.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
        if (line is null || !line.StartsWith("YUV4MPEG2 ", StringComparison.Ordinal))
        {
            return null;
        }
        int width = 0, height = 0;
        double fps = 0;
        foreach (var token in line.Split(' ').Skip(1))
        {
            switch (token[0])
            {
                case 'W':
                    width = int.Parse(token.AsSpan(1), CultureInfo.InvariantCulture);
                    break;
                case 'H':
                    height = int.Parse(token.AsSpan(1), CultureInfo.InvariantCulture);
                    break;
                case 'F':
                    var parts = token[1..].Split(':');
                    var denominator = double.Parse(parts[1], CultureInfo.InvariantCulture);
                    fps = denominator > 0 ? double.Parse(parts[0], CultureInfo.InvariantCulture) / denominator : 0;
                    break;
                case 'C' when !token.StartsWith("C420", StringComparison.Ordinal):
                    throw new CaptureException(CaptureError.Undecodable, $"unexpected pixel format from ffmpeg: {token}");
            }
        }
        return width > 0 && height > 0 ? (width, height, fps) : null;
    }

    private static async ValueTask<string?> ReadLineAsync(Stream stream, CancellationToken ct)
    {
        var bytes = new List<byte>(128);
        var one = new byte[1];
        while (true)
        {
            if (await stream.ReadAsync(one, ct).ConfigureAwait(false) == 0)
            {
                return bytes.Count == 0 ? null : Encoding.ASCII.GetString([.. bytes]);
            }
            if (one[0] == '\n')
            {
                return Encoding.ASCII.GetString([.. bytes]);
            }
            if (bytes.Count > 1024)
            {
                return null;
            }
            bytes.Add(one[0]);
        }
    }

    public Frame? Read(FramePool pool, CancellationToken ct)
    {
        if (_options.MaxFrames > 0 && _emitted >= _options.MaxFrames)
        {
            return null;
        }
        var frame = pool.Rent(ct);
        try
        {
            while (true)
            {
                if (!ReadFrame(ct))
                {
                    frame.Dispose();
                    if (_lastError.Text is { } reason)
                    {
                        _logger.LogDebug("{Stream}: the stream ended; ffmpeg: {Reason}", StreamId, Redaction.Redact(reason));
                    }
                    return null;
                }
                var index = _position++;
                var nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                if (!_shaping.KeepLive(nowMs))
                {
                    continue;
                }
                Cv2.CvtColor(_yuvMat, _shaping.DecodeTarget(frame), ColorConversionCodes.YUV2BGR_I420);
                _shaping.Finish(frame);
                frame.Stamp(StreamId, index, nowMs);
                _emitted++;
                return frame;
            }
        }
        catch
        {
            frame.Dispose();
            throw;
        }
    }

    /// <summary>Reads one "FRAME" record into the YUV buffer; false when the stream ends or stalls.</summary>
    private bool ReadFrame(CancellationToken ct)
    {
        using var stalled = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stalled.CancelAfter(_options.ReadTimeoutMs);
        try
        {
            var line = ReadLineAsync(_stdout, stalled.Token).AsTask().GetAwaiter().GetResult();
            if (line is null || !line.StartsWith(FrameMarker, StringComparison.Ordinal))
            {
                return false;
            }
            _stdout.ReadExactlyAsync(_yuv, stalled.Token).AsTask().GetAwaiter().GetResult();
            return true;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return false; // no data within the read timeout: the stream stalled
        }
        catch (EndOfStreamException)
        {
            return false;
        }
    }

    private static void Kill(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(2000);
            }
        }
        catch (InvalidOperationException)
        {
        }
    }

    /// <summary>
    /// ffmpeg's last few stderr lines, redacted: the first names the cause ("Protocol 'file' not on whitelist", "Connection
    /// refused"), the last what it did about it. Bounded, so months of warnings cost nothing. Written by the stderr
    /// reader thread, read by the capture thread.
    /// </summary>
    private sealed class LastLines
    {
        private const int Kept = 4;
        private readonly Queue<string> _lines = new(Kept);
        private readonly Lock _lock = new();

        public void Add(string line)
        {
            // Redacted before it is cut: a URL cut in its user information would no longer look like one.
            line = Redaction.Redact(line);
            lock (_lock)
            {
                if (_lines.Count == Kept)
                {
                    _lines.Dequeue();
                }
                _lines.Enqueue(line.Length > 500 ? line[..500] : line);
            }
        }

        public string? Text
        {
            get
            {
                lock (_lock)
                {
                    return _lines.Count == 0 ? null : string.Join(" | ", _lines);
                }
            }
        }
    }

    public void Dispose()
    {
        Kill(_ffmpeg);
        _ffmpeg.Dispose();
        _yuvMat.Dispose();
        _shaping.Dispose();
    }
}
