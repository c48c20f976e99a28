using System.Diagnostics;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// Frames from OpenCV's VideoCapture (FFmpeg for files, V4L2 for cameras). Files keep every
/// <c>stride</c>-th frame and are lossless; live sources keep frames by wall-clock interval. A file can be replayed
/// as live, paced at its own frame rate, which is how a camera behaves for a consumer that falls behind: it keeps its
/// clock, so a read that comes late gets the frame due now and the frames in between are skipped (counted in
/// <see cref="SkippedFrames"/>), never a burst of old frames stamped with the current time; a looping file is such a
/// replay that starts again at its end, with indices and timestamps that keep increasing.
/// </summary>
public sealed class VideoCaptureSource : IFrameSource
{
    private readonly VideoCapture _capture;
    private readonly CaptureOptions _options;
    private readonly bool _replayAsLive;
    private readonly bool _loop;
    private readonly int _stride;
    private readonly FrameShaping _shaping;
    private readonly long _startTicks = Stopwatch.GetTimestamp();
    private long _position;
    private long _emitted;
    private long _passStart;
    private long _skipped;

    private VideoCaptureSource(VideoCapture capture, string streamId, SourceKind kind, string location,
        CaptureOptions options, bool replayAsLive, bool loop)
    {
        _capture = capture;
        _options = options;
        _replayAsLive = replayAsLive || loop;
        _loop = loop;
        StreamId = streamId;
        var fps = capture.Get(VideoCaptureProperties.Fps);
        var count = (long)capture.Get(VideoCaptureProperties.FrameCount);
        var isLive = kind != SourceKind.File || _replayAsLive;
        _shaping = new FrameShaping(options, capture.FrameWidth, capture.FrameHeight, isLive);
        Info = new SourceInfo(kind, Redaction.Redact(location), isLive,
            _shaping.Resize?.Width ?? capture.FrameWidth, _shaping.Resize?.Height ?? capture.FrameHeight,
            fps > 0 ? fps : 0, kind == SourceKind.File && count > 0 ? count : null, capture.GetBackendName());
        _stride = Strides.For(options, Info.Fps);
    }

    public string StreamId { get; }

    public SourceInfo Info { get; }

    /// <summary>Frames a replay skipped to keep its clock because it was read too late.</summary>
    public long SkippedFrames => Interlocked.Read(ref _skipped);

    /// <summary>
    /// Opens a video file. <paramref name="replayAsLive"/> paces it at its frame rate and treats it as live;
    /// <paramref name="loop"/> does the same and starts again at the end, for a test camera that never stops.
    /// </summary>
    public static VideoCaptureSource OpenFile(string path, string streamId, CaptureOptions options, bool replayAsLive = false,
        bool loop = false) => OpenFile(path, path, streamId, options, replayAsLive, loop);

    /// <summary>Opens <paramref name="path"/> (as a <see cref="SourcePolicy"/> resolved it), naming it <paramref name="location"/>.</summary>
    internal static VideoCaptureSource OpenFile(string path, string location, string streamId, CaptureOptions options,
        bool replayAsLive, bool loop)
    {
        if (Directory.Exists(path) || !File.Exists(path))
        {
            throw new CaptureException(CaptureError.NotFound, $"video file not found: {location}");
        }
        var capture = new VideoCapture(path, VideoCaptureAPIs.FFMPEG);
        if (!capture.IsOpened() || capture.FrameWidth <= 0)
        {
            capture.Dispose();
            throw new CaptureException(CaptureError.Undecodable, $"not a video that can be decoded: {location}");
        }
        return new VideoCaptureSource(capture, streamId, SourceKind.File, location, options, replayAsLive, loop);
    }

    /// <summary>Opens a camera by index ("0") or device path ("/dev/video0").</summary>
    public static VideoCaptureSource OpenCamera(string device, string streamId, CaptureOptions options)
    {
        if (SourcePolicy.Classify(device, out _) != SourcePolicy.SourceShape.Camera)
        {
            // Only a number or /dev/videoN: V4L2 on any other path would tell which files exist.
            throw new CaptureException(CaptureError.Refused, $"source refused: not a camera (a number or /dev/videoN): {device}");
        }
        VideoCapture capture;
        if (int.TryParse(device, out var index))
        {
            if (!File.Exists($"/dev/video{index}"))
            {
                throw new CaptureException(CaptureError.NotFound, $"camera {index} not found (/dev/video{index} does not exist)");
            }
            capture = new VideoCapture(index, VideoCaptureAPIs.V4L2);
        }
        else
        {
            if (!File.Exists(device))
            {
                throw new CaptureException(CaptureError.NotFound, $"camera not found: {device}");
            }
            capture = new VideoCapture(device, VideoCaptureAPIs.V4L2);
        }
        if (!capture.IsOpened())
        {
            capture.Dispose();
            throw new CaptureException(CaptureError.Unreachable, $"camera {device} exists but could not be opened (busy or not a capture device?)");
        }
        return new VideoCaptureSource(capture, streamId, SourceKind.Camera, device, options, replayAsLive: false, loop: false);
    }

    /// <summary>The same as <see cref="Redaction.Redact"/>, kept for existing callers: there is one redaction.</summary>
    public static string Redact(string text) => Redaction.Redact(text);

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
                ct.ThrowIfCancellationRequested();
                if (!Info.IsLive)
                {
                    while (_position % _stride != 0)
                    {
                        if (!_capture.Grab())
                        {
                            return End(frame);
                        }
                        _position++;
                    }
                }
                if (_replayAsLive && !KeepClock(ct))
                {
                    if (_loop && Rewind())
                    {
                        continue;
                    }
                    return End(frame);
                }
                var target = _shaping.DecodeTarget(frame);
                if (!_capture.Read(target) || target.Empty())
                {
                    if (_loop && Rewind())
                    {
                        continue;
                    }
                    return End(frame);
                }
                var index = _position++;
                double timestampMs;
                if (Info.IsLive)
                {
                    timestampMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
                    if (!_shaping.KeepLive(timestampMs))
                    {
                        continue;
                    }
                }
                else
                {
                    timestampMs = _capture.Get(VideoCaptureProperties.PosMsec);
                    if (timestampMs <= 0 && index > 0 && Info.Fps > 0)
                    {
                        timestampMs = index * 1000.0 / Info.Fps;
                    }
                }
                _shaping.Finish(frame);
                frame.Stamp(StreamId, index, timestampMs);
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

    /// <summary>
    /// Brings a replay to its clock: frames whose time has passed before the one due now are skipped (grabbed, not
    /// decoded into a buffer), then it waits until the next frame is due. False when the file ended while skipping.
    /// </summary>
    private bool KeepClock(CancellationToken ct)
    {
        if (Info.Fps <= 0)
        {
            return true;
        }
        var dueNow = (long)Math.Floor(Stopwatch.GetElapsedTime(_startTicks).TotalSeconds * Info.Fps);
        // A little lateness (a busy machine) is caught up by reading on at once; beyond half a second the frames in
        // between are stale, and delivering them would only push every later frame further from its time.
        if (dueNow - _position <= Math.Max(2, Info.Fps / 2))
        {
            WaitUntilDue(ct);
            return true;
        }
        while (_position < dueNow)
        {
            ct.ThrowIfCancellationRequested();
            if (!_capture.Grab())
            {
                return false;
            }
            _position++;
            Interlocked.Increment(ref _skipped);
        }
        WaitUntilDue(ct);
        return true;
    }

    private void WaitUntilDue(CancellationToken ct)
    {
        if (Info.Fps <= 0)
        {
            return;
        }
        var due = TimeSpan.FromSeconds(_position / Info.Fps);
        var wait = due - Stopwatch.GetElapsedTime(_startTicks);
        if (wait > TimeSpan.Zero)
        {
            ct.WaitHandle.WaitOne(wait);
            ct.ThrowIfCancellationRequested();
        }
    }

    /// <summary>Seeks a looping file back to its first frame; false when the pass that ended decoded nothing.</summary>
    private bool Rewind()
    {
        var decoded = _position - _passStart;
        if (decoded == 0)
        {
            return false;
        }
        CheckComplete(decoded);
        _capture.Set(VideoCaptureProperties.PosFrames, 0);
        _passStart = _position;
        return true;
    }

    private Frame? End(Frame frame)
    {
        frame.Dispose();
        if (_position == 0)
        {
            throw new CaptureException(CaptureError.Undecodable, $"no frame could be decoded from {Info.Location}");
        }
        CheckComplete(_position - _passStart);
        return null;
    }

    /// <summary>
    /// A file that ends well before the length in its header is damaged: say so rather than pass off a partial
    /// result as the whole video. Containers estimate their length, so allow a small shortfall.
    /// </summary>
    private void CheckComplete(long decoded)
    {
        if (Info.FrameCount is { } count && decoded < count - Math.Max(2, count / 100))
        {
            throw new CaptureException(CaptureError.Truncated,
                $"video ends early: decoded {decoded} of {count} frames from {Info.Location} (truncated or damaged file)");
        }
    }

    public void Dispose()
    {
        _capture.Dispose();
        _shaping.Dispose();
    }
}
