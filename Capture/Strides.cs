namespace Edge.Capture;

public static class Strides
{
    /// <summary>Frames to advance per kept frame for a file or folder at <paramref name="sourceFps"/>.</summary>
    public static int For(CaptureOptions options, double sourceFps)
    {
        var byFps = options.TargetFps > 0 && sourceFps > options.TargetFps
            ? (int)Math.Round(sourceFps / options.TargetFps)
            : 1;
        return Math.Max(options.FrameStride, byFps);
    }
}
