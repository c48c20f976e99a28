using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// The per-frame rules every source applies the same way: optional resize at capture, a bound on a live frame's
/// pixels (<see cref="CaptureOptions.MaxFramePixels"/>) and, for live sources, keeping frames on the target fps's
/// schedule. Owns the intermediate decode buffer used when resizing: one per source, outside the pool.
/// </summary>
internal sealed class FrameShaping : IDisposable
{
    private readonly Mat? _decodeBuffer;
    private readonly double _minIntervalMs;
    private readonly int _maxPixels;
    private double _nextDueMs = double.NegativeInfinity;

    /// <param name="sourceWidth">The decoded width, or 0 when the source does not say (then each frame is checked).</param>
    /// <param name="isLive">Live frames are bounded by <see cref="CaptureOptions.MaxFramePixels"/>; files keep their size.</param>
    public FrameShaping(CaptureOptions options, int sourceWidth, int sourceHeight, bool isLive)
    {
        Size? resize = options.ResizeWidth > 0 && options.ResizeHeight > 0 ? new Size(options.ResizeWidth, options.ResizeHeight) : null;
        _maxPixels = isLive ? options.MaxFramePixels : int.MaxValue;
        if (isLive && (resize ?? new Size(sourceWidth, sourceHeight)) is { Width: > 0, Height: > 0 } wanted)
        {
            var bounded = Fit(wanted, _maxPixels);
            resize = bounded == wanted ? resize : bounded;
        }
        Resize = resize;
        // A live source of unknown size decodes aside, so that an oversized frame never lands in a pooled buffer.
        CheckEachFrame = isLive && Resize is null && (sourceWidth <= 0 || sourceHeight <= 0);
        _decodeBuffer = Resize is null && !CheckEachFrame ? null : new Mat();
        _minIntervalMs = options.TargetFps > 0 ? 1000.0 / options.TargetFps : 0;
    }

    /// <summary>The size frames are resized to, or null to keep the source size.</summary>
    public Size? Resize { get; }

    private bool CheckEachFrame { get; }

    /// <summary>
    /// The largest size with <paramref name="size"/>'s aspect ratio and at most <paramref name="maxPixels"/> pixels,
    /// both sides even (as ffmpeg's yuv420p output needs); <paramref name="size"/> itself when it fits.
    /// </summary>
    public static Size Fit(Size size, int maxPixels)
    {
        if ((long)size.Width * size.Height <= maxPixels)
        {
            return size;
        }
        var scale = Math.Sqrt((double)maxPixels / ((double)size.Width * size.Height));
        var width = Math.Max(2, (int)Math.Floor(size.Width * scale / 2 + 1e-9) * 2);
        var height = Math.Max(2, (int)Math.Floor(size.Height * scale / 2 + 1e-9) * 2);
        return new Size(width, height);
    }

    /// <summary>Where to decode: the frame itself, or the decode buffer when frames are resized.</summary>
    public Mat DecodeTarget(Frame frame) => _decodeBuffer ?? frame.Image;

    /// <summary>Moves what was decoded into <see cref="DecodeTarget"/> into the frame, resizing if asked.</summary>
    public void Finish(Frame frame)
    {
        if (_decodeBuffer is null)
        {
            return;
        }
        var size = Resize ?? Fit(_decodeBuffer.Size(), _maxPixels);
        if (size == _decodeBuffer.Size())
        {
            _decodeBuffer.CopyTo(frame.Image);
        }
        else
        {
            Cv2.Resize(_decodeBuffer, frame.Image, size, interpolation: InterpolationFlags.Area);
        }
    }

    /// <summary>
    /// For live sources: whether a frame read at <paramref name="nowMs"/> is kept under the target fps. Frames are kept
    /// on a schedule one interval apart, with a quarter of an interval's tolerance for a frame that comes a little
    /// early: a 10 fps camera under a 10 fps target keeps every frame however its arrivals jitter (a rule of "at least
    /// one interval since the last kept frame" dropped every frame that came a millisecond early, half of them), a
    /// 30 fps camera keeps every third, and after a late frame or a pause the schedule starts again rather than letting a
    /// burst through.
    /// </summary>
    public bool KeepLive(double nowMs)
    {
        if (_minIntervalMs <= 0)
        {
            return true;
        }
        if (nowMs < _nextDueMs - _minIntervalMs / 4)
        {
            return false;
        }
        // A frame more than the tolerance late (a stall, a pause) starts the schedule again from itself, so the frame
        // after it is not let through early to catch up.
        _nextDueMs = nowMs - _nextDueMs > _minIntervalMs / 4 ? nowMs + _minIntervalMs : _nextDueMs + _minIntervalMs;
        return true;
    }

    public void Dispose() => _decodeBuffer?.Dispose();
}
