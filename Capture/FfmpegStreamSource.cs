using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// Frames from a network stream (rtsp://, http:// MJPEG, ...) decoded by an ffmpeg child process. The FFmpeg inside
/// OpenCvSharp's runtime package is built without network protocols, so streams go through the system's ffmpeg
/// (Debian package ffmpeg), as Frigate does: ffmpeg writes YUV4MPEG2 to its stdout, whose header gives the frame size
/// and rate; each frame is read into a buffer owned by this source and converted to BGR in the leased frame.
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

    private readonly Process _ffmpeg;
    private readonly Stream _stdout;
    private readonly CaptureOptions _options;
    private readonly byte[] _yuv;
    private readonly Mat _yuvMat;
    private readonly FrameShaping _shaping;
    private long _position;
    private long _emitted;

    private FfmpegStreamSource(Process ffmpeg, string streamId, string location, int width, int height, double fps, CaptureOptions options)
    {
        _ffmpeg = ffmpeg;
        _stdout = ffmpeg.StandardOutput.BaseStream;
        _options = options;
        StreamId = streamId;
        _yuv = new byte[width * height * 3 / 2];
        _yuvMat = Mat.FromPixelData(height * 3 / 2, width, MatType.CV_8UC1, _yuv);
        _shaping = new FrameShaping(options);
        Info = new SourceInfo(SourceKind.Network, location, true, _shaping.Resize?.Width ?? width, _shaping.Resize?.Height ?? height, fps, null, "ffmpeg");
    }

    public string StreamId { get; }

    public SourceInfo Info { get; }

    /// <summary>
    /// Starts ffmpeg on <paramref name="url"/> and waits up to <see cref="CaptureOptions.OpenTimeoutMs"/> for the
    /// first bytes of video; a stream that does not answer in time is <see cref="CaptureError.Unreachable"/>.
    /// Cancelling <paramref name="ct"/> stops the wait with <see cref="OperationCanceledException"/>.
    /// </summary>
    public static FfmpegStreamSource Open(string url, string streamId, CaptureOptions options, CancellationToken ct = default)
    {
        var location = VideoCaptureSource.Redact(url);
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        var timeoutMicroseconds = (options.ReadTimeoutMs * 1000L).ToString(CultureInfo.InvariantCulture);
        string[] input = url.StartsWith("rtsp", StringComparison.OrdinalIgnoreCase)
            ? ["-rtsp_transport", "tcp", "-timeout", timeoutMicroseconds, "-analyzeduration", AnalyzeMicroseconds]
            : ["-rw_timeout", timeoutMicroseconds];
        foreach (var arg in (string[])["-hide_banner", "-nostdin", "-loglevel", "error", .. input, "-i", url,
                     "-map", "0:v:0", "-an", "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"])
        {
            info.ArgumentList.Add(arg);
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
        // Only the last line is kept: it says why ffmpeg stopped, and memory stays bounded over months of warnings.
        var lastError = new StrongBox<string?>();
        ffmpeg.ErrorDataReceived += (_, e) =>
        {
            if (!string.IsNullOrWhiteSpace(e.Data))
            {
                Volatile.Write(ref lastError.Value, e.Data.Trim());
            }
        };
        ffmpeg.BeginErrorReadLine();
        try
        {
            var header = ReadHeader(ffmpeg.StandardOutput.BaseStream, options.OpenTimeoutMs, ct);
            if (header is null)
            {
                throw new CaptureException(CaptureError.Unreachable,
                    $"stream did not answer: {location} (no video within {options.OpenTimeoutMs} ms{Reason(ffmpeg, lastError)})");
            }
            var (width, height, fps) = header.Value;
            return new FfmpegStreamSource(ffmpeg, streamId, location, width, height, fps, options);
        }
        catch
        {
            Kill(ffmpeg);
            ffmpeg.Dispose();
            throw;
        }
    }

    /// <summary>ffmpeg's last words, which repeat the URL as given: credentials are removed.</summary>
    private static string Reason(Process ffmpeg, StrongBox<string?> lastError)
    {
        ffmpeg.WaitForExit(200);
        return Volatile.Read(ref lastError.Value) is { } line ? ": " + VideoCaptureSource.Redact(line) : "";
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

    public void Dispose()
    {
        Kill(_ffmpeg);
        _ffmpeg.Dispose();
        _yuvMat.Dispose();
        _shaping.Dispose();
    }
}
