using Edge.Pipeline;
using OpenCvSharp;

namespace Edge.Pipeline.Outputs;

/// <summary>
/// Writes annotated.mp4 (MPEG-4 Part 2, "mp4v": the codec OpenCV's bundled FFmpeg can encode): the frame with its
/// object boxes, labels and confidences, the stream/frame/time line and the analysis. Each frame is copied
/// to a canvas owned by this sink and drawn on there, so the pooled frame itself is never changed. The writer opens
/// at the first frame, with that frame's size.
/// </summary>
public sealed class AnnotatedVideoSink : IResultSink
{
    public const string VideoFile = "annotated.mp4";

    private readonly string _path;
    private readonly double _fps;
    private readonly Mat _canvas = new();
    private VideoWriter? _writer;

    public AnnotatedVideoSink(OutputDirectory output, double fps)
    {
        _path = output.StagingPath(VideoFile);
        _fps = fps > 0 ? fps : 10;
    }

    public bool NeedsPixels => true;

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        var image = result.Pixels?.Image ?? throw new InvalidOperationException("annotation needs the frame pixels");
        if (_writer is null)
        {
            _writer = new VideoWriter(_path, FourCC.FromString("mp4v"), _fps, image.Size());
            if (!_writer.IsOpened())
            {
                throw new OutputException($"cannot open a video writer for {_path}");
            }
        }
        image.CopyTo(_canvas);
        FrameAnnotation.Draw(_canvas, result);
        _writer.Write(_canvas);
        return ValueTask.CompletedTask;
    }

    public ValueTask CompleteAsync(CancellationToken ct) => DisposeAsync();

    public ValueTask DisposeAsync()
    {
        _writer?.Release();
        _writer?.Dispose();
        _writer = null;
        _canvas.Dispose();
        return ValueTask.CompletedTask;
    }
}
