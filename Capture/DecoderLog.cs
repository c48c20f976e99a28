using System.Runtime.InteropServices;
using OpenCvSharp;

namespace Edge.Capture;

/// <summary>
/// Keeps OpenCV's and its bundled FFmpeg's own messages off the terminal. A damaged or unreadable video printed lines
/// such as <c>[ WARN:0@0.025] global cap.cpp:215 open VIDEOIO(FFMPEG): ...</c> and <c>[msmpeg4 @ 0x...] Error at MB:
/// 1004</c> before Edge's one error line, which says the same in words (truncated, not a video, not found). A user who
/// wants them sets <c>OPENCV_LOG_LEVEL</c> or <c>OPENCV_FFMPEG_LOGLEVEL</c> (FFmpeg's numeric levels): a variable that is
/// set is left as it is.
/// </summary>
public static class DecoderLog
{
    /// <summary>OpenCV's FFmpeg back-end reads this when it first opens a video: -8 is FFmpeg's AV_LOG_QUIET.</summary>
    public const string FfmpegLevelVariable = "OPENCV_FFMPEG_LOGLEVEL";

    /// <summary>Call once, before the first video is opened.</summary>
    public static void Quiet()
    {
        if (Environment.GetEnvironmentVariable("OPENCV_LOG_LEVEL") is null)
        {
            Cv2.SetLogLevel(LogLevel.ERROR);
        }
        // .NET keeps its own copy of the environment on Linux; OpenCV reads the process's, so set it there.
        if (Environment.GetEnvironmentVariable(FfmpegLevelVariable) is null && (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS()))
        {
            try
            {
                _ = setenv(FfmpegLevelVariable, "-8", 0);
            }
            catch (Exception ex) when (ex is DllNotFoundException or EntryPointNotFoundException)
            {
                // No libc to set it in: FFmpeg's messages stay as they were.
            }
        }
    }

    [DllImport("libc", CharSet = CharSet.Ansi)]
    private static extern int setenv(string name, string value, int overwrite);
}
