using System.Diagnostics;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Capture.Tests;

/// <summary>
/// A network stream whose timestamps have a gap (frames lost on the way, a camera that skipped some): each frame it
/// sends is read once, and none is made up. ffmpeg's default for a constant-rate output repeats the frame before a
/// gap to fill it, which the anomaly model reads as a frozen picture.
/// </summary>
public sealed class StreamFrameTimingTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Read_StreamWithATimestampGap_EveryFrameOnceAndNoneRepeated()
    {
        // 30 frames of ffmpeg's moving test pattern at 10 fps, the last 10 a second later than their place (a gap).
        var clip = Path.Combine(_folder, "gap.mkv");
        Run("ffmpeg", ["-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10",
            "-frames:v", "30", "-vf", "setpts='N/10/TB+gte(N,20)/TB'", "-c:v", "mjpeg", "-q:v", "3", clip]);
        var port = RtspServer.FreePort();
        var url = $"http://127.0.0.1:{port}/cam.mkv";
        using var server = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", clip, "-c:v", "copy", "-f", "matroska", "-listen", "1", url])
        { UseShellExecute = false, RedirectStandardError = true })!;
        try
        {
            MjpegHttpServer.WaitForListen(port);
            using var source = FrameSources.Open(url, new CaptureOptions { OpenTimeoutMs = 10_000, ReadTimeoutMs = 10_000 });
            using var pool = new FramePool(2);
            using var previous = new Mat();
            var (count, repeated) = (0, 0);
            while (source.Read(pool, CancellationToken.None) is { } frame)
            {
                using (frame)
                {
                    if (count > 0 && Cv2.Norm(frame.Image, previous, NormTypes.L1) == 0)
                    {
                        repeated++;
                    }
                    frame.Image.CopyTo(previous);
                    count++;
                }
            }
            Assert.Equal((30, 0), (count, repeated));
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill();
            }
            server.WaitForExit();
        }
    }

    private static void Run(string file, string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })!;
        process.WaitForExit();
        Assert.Equal(0, process.ExitCode);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
