using System.Diagnostics;
using Edge.Pipeline;
using OpenCvSharp;

namespace Edge.Pipeline.Outputs;

/// <summary>
/// Publishes an annotated JPEG of a stream to the <see cref="PreviewHub"/> at most once per interval; frames in
/// between pass untouched, so a preview costs one copy and one encode per interval whatever the frame rate. Each
/// frame drawn is copied to a canvas owned by this sink first; the pooled frame is never changed. The hub is not
/// owned.
/// </summary>
public sealed class PreviewSink(PreviewHub hub, int intervalMs, int jpegQuality = 75) : IResultSink
{
    private readonly Mat _canvas = new();
    private readonly long _intervalTicks = intervalMs * Stopwatch.Frequency / 1000;
    private long _lastTicks = long.MinValue;

    public bool NeedsPixels => true;

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        var now = Stopwatch.GetTimestamp();
        if (result.Pixels is not { } pixels || (_lastTicks != long.MinValue && now - _lastTicks < _intervalTicks))
        {
            return ValueTask.CompletedTask;
        }
        _lastTicks = now;
        pixels.Image.CopyTo(_canvas);
        FrameAnnotation.Draw(_canvas, result);
        Cv2.ImEncode(".jpg", _canvas, out var jpeg, new ImageEncodingParam(ImwriteFlags.JpegQuality, jpegQuality));
        hub.Publish(result.StreamId, jpeg);
        return ValueTask.CompletedTask;
    }

    public ValueTask CompleteAsync(CancellationToken ct) => DisposeAsync();

    public ValueTask DisposeAsync()
    {
        _canvas.Dispose();
        return ValueTask.CompletedTask;
    }
}
