using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// The per-frame rules every source applies the same way: optional resize at capture and, for live sources, keeping
/// frames no closer together than the target fps. Owns the intermediate decode buffer used when resizing.
/// </summary>
internal sealed class FrameShaping : IDisposable
{
    private readonly Mat? _decodeBuffer;
    private readonly double _minIntervalMs;
    private double _lastKeptMs = double.NegativeInfinity;

    public FrameShaping(CaptureOptions options)
    {
        Resize = options.ResizeWidth > 0 && options.ResizeHeight > 0 ? new Size(options.ResizeWidth, options.ResizeHeight) : null;
        _decodeBuffer = Resize is null ? null : new Mat();
        _minIntervalMs = options.TargetFps > 0 ? 1000.0 / options.TargetFps : 0;
    }

    /// <summary>The size frames are resized to, or null to keep the source size.</summary>
    public Size? Resize { get; }

    /// <summary>Where to decode: the frame itself, or the decode buffer when frames are resized.</summary>
    public Mat DecodeTarget(Frame frame) => _decodeBuffer ?? frame.Image;

    /// <summary>Moves what was decoded into <see cref="DecodeTarget"/> into the frame, resizing if asked.</summary>
    public void Finish(Frame frame)
    {
        if (_decodeBuffer is not null)
        {
            Cv2.Resize(_decodeBuffer, frame.Image, Resize!.Value, interpolation: InterpolationFlags.Area);
        }
    }

    /// <summary>For live sources: whether a frame read at <paramref name="nowMs"/> is kept under the target fps.</summary>
    public bool KeepLive(double nowMs)
    {
        if (nowMs - _lastKeptMs < _minIntervalMs)
        {
            return false;
        }
        _lastKeptMs = nowMs;
        return true;
    }

    public void Dispose() => _decodeBuffer?.Dispose();
}
