using System.ComponentModel.DataAnnotations;

namespace Edge.Capture;

/// <summary>How frames are taken from a source. Config section "Capture".</summary>
public sealed class CaptureOptions
{
    public const string Section = "Capture";

    /// <summary>Frames per second to keep; 0 keeps every frame. Files skip frames by stride, live sources by time.</summary>
    [Range(0, 1000)]
    public double TargetFps { get; set; }

    /// <summary>Keep every Nth frame (files). Combined with <see cref="TargetFps"/>, the larger stride wins.</summary>
    [Range(1, 10_000)]
    public int FrameStride { get; set; } = 1;

    /// <summary>Stop after this many frames; 0 means no limit.</summary>
    [Range(0, long.MaxValue)]
    public long MaxFrames { get; set; }

    /// <summary>Resize frames to this width at capture (0 keeps the source size). Needs <see cref="ResizeHeight"/>.</summary>
    [Range(0, 16_384)]
    public int ResizeWidth { get; set; }

    /// <summary>Resize frames to this height at capture (0 keeps the source size). Needs <see cref="ResizeWidth"/>.</summary>
    [Range(0, 16_384)]
    public int ResizeHeight { get; set; }

    /// <summary>
    /// Most pixels a live frame (camera, network stream, file replayed as live) may have in the frame pool; a larger
    /// one is scaled down at capture, keeping its aspect ratio (both sides even), so that a 4K camera cannot fill a
    /// pool of dozens of frames with gigabytes. Default 1920×1080. An explicit resize larger than this is scaled too.
    /// </summary>
    [Range(4_096, 67_108_864)]
    public int MaxFramePixels { get; set; } = DefaultMaxFramePixels;

    public const int DefaultMaxFramePixels = 1920 * 1080;

    /// <summary>Time allowed to open a network stream or camera.</summary>
    [Range(100, 600_000)]
    public int OpenTimeoutMs { get; set; } = 5_000;

    /// <summary>Time allowed for one read from a network stream before it counts as stalled.</summary>
    [Range(100, 600_000)]
    public int ReadTimeoutMs { get; set; } = 5_000;

    /// <summary>
    /// Network streams (decoded by ffmpeg): Auto decodes them on the GPU with <c>-hwaccel cuda</c> when ffmpeg can
    /// open a CUDA device here (asked once per process) and on the CPU otherwise; Cuda requires the GPU; Off never
    /// uses it. Frames reach Edge in the same form either way. Files and cameras decode on the CPU.
    /// </summary>
    public HardwareDecodeMode HardwareDecode { get; set; } = HardwareDecodeMode.Auto;

    /// <summary>Frame rate given to an image folder, which has no timing of its own.</summary>
    [Range(0.001, 1000)]
    public double FolderFps { get; set; } = 10;

    /// <summary>A copy without the frame limit, for each connection of a source that counts frames over all of them.</summary>
    internal CaptureOptions WithoutFrameLimit()
    {
        var copy = (CaptureOptions)MemberwiseClone();
        copy.MaxFrames = 0;
        return copy;
    }
}
