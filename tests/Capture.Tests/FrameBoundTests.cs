using System.Diagnostics;
using Edge.Capture;
using Edge.Tests;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Edge.Capture.Tests;

/// <summary>
/// Live frames above <see cref="CaptureOptions.MaxFramePixels"/> are scaled down at capture, before they enter the
/// pool, on real generated 4K (and larger) material served over HTTP and replayed live from a file.
/// </summary>
public sealed class FrameBoundTests(ITestOutputHelper output) : IDisposable
{
    private const int Bound = CaptureOptions.DefaultMaxFramePixels;

    private readonly string _folder = TestData.NewTempFolder();

    [Theory]
    [InlineData(3840, 2160, Bound, 1920, 1080)]
    [InlineData(7680, 4320, Bound, 1920, 1080)]
    [InlineData(4000, 3000, Bound, 1662, 1246)]
    [InlineData(1080, 1920, Bound, 1080, 1920)]
    [InlineData(768, 576, Bound, 768, 576)]
    [InlineData(768, 576, 320 * 240, 320, 240)]
    [InlineData(20_000, 200, Bound, 14_400, 144)]
    public void Fit_Size_LargestEvenSizeOfTheSameShapeWithinTheBound(int width, int height, int bound, int expectedWidth, int expectedHeight)
    {
        var fitted = FrameShaping.Fit(new Size(width, height), bound);
        Assert.Equal(new Size(expectedWidth, expectedHeight), fitted);
        Assert.True((long)fitted.Width * fitted.Height <= bound);
        Assert.InRange((double)fitted.Width / fitted.Height, (double)width / height * 0.99, (double)width / height * 1.01);
    }

    [Theory]
    [InlineData(3840, 2160)]
    [InlineData(4000, 3000)]
    [InlineData(3842, 2162)]
    [InlineData(5000, 1000)]
    [InlineData(640, 480)]
    public void ScaleFilter_Ffmpeg_GivesTheSizeFitComputes(int width, int height)
    {
        using var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", $"testsrc2=size={width}x{height}:rate=1",
             "-frames:v", "1", "-vf", FfmpegStreamSource.ScaleFilter(Bound), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe", "-"])
        { UseShellExecute = false, RedirectStandardOutput = true })!;
        var header = ffmpeg.StandardOutput.ReadLine()!.Split(' ');
        ffmpeg.StandardOutput.BaseStream.CopyTo(Stream.Null);
        ffmpeg.WaitForExit();
        var expected = FrameShaping.Fit(new Size(width, height), Bound);
        Assert.Equal(($"W{expected.Width}", $"H{expected.Height}"), (header[1], header[2]));
    }

    [Fact]
    public void Read_4kNetworkStream_FramesInThePoolAreWithinTheBound()
    {
        // 3840x2160 MJPEG at 5 fps, served over HTTP as a camera would: 24.9 MB per BGR frame unbounded.
        var clip = Generate("uhd.avi", 3840, 2160, frames: 10, fps: 5);
        using var server = new MjpegHttpServer(clip, copy: true);
        using var source = FrameSources.Open(server.Url, new CaptureOptions { OpenTimeoutMs = 10_000, ReadTimeoutMs = 10_000 });
        Assert.Equal((1920, 1080), (source.Info.Width, source.Info.Height));
        using var pool = new FramePool(2);
        var count = 0;
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                Assert.Equal(new Size(1920, 1080), frame.Image.Size());
                Assert.True(frame.Image.Total() * frame.Image.ElemSize() <= Bound * 3L);
                Assert.True(Cv2.Mean(frame.Image).Val0 > 5, "decoded pixels should not be black");
                count++;
            }
        }
        output.WriteLine($"{count} frames of 3840x2160 arrived as 1920x1080");
        Assert.InRange(count, 8, 10);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Read_LiveFileAboveTheBound_ScaledKeepingItsAspectRatioWhileTheFileKeepsItsSize()
    {
        var clip = Generate("large.avi", 4000, 3000, frames: 3, fps: 10);
        using (var live = FrameSources.OpenLive(clip, new CaptureOptions { MaxFrames = 3 }, new ReconnectOptions()))
        using (var pool = new FramePool(2))
        {
            var sizes = new List<Size>();
            while (live.Read(pool, CancellationToken.None) is { } frame)
            {
                using (frame)
                {
                    sizes.Add(frame.Image.Size());
                }
            }
            Assert.Equal(Enumerable.Repeat(new Size(1662, 1246), 3), sizes);
            Assert.Equal((1662, 1246), (live.Info.Width, live.Info.Height));
        }
        // Processing a file is lossless: it keeps its size (the bound is for live sources).
        using var file = FrameSources.Open(clip, new CaptureOptions { MaxFrames = 1 });
        using var filePool = new FramePool(1);
        using var whole = file.Read(filePool, CancellationToken.None)!;
        Assert.Equal(new Size(4000, 3000), whole.Image.Size());
    }

    [Fact]
    public void Read_SmallerBoundOrLargerResize_LiveFramesStayWithinTheBound()
    {
        Assert.Equal(new Size(320, 240), FirstFrameSize(new CaptureOptions { MaxFramePixels = 320 * 240 }, live: true));
        // An explicit resize above the bound is scaled to it for live frames, and kept for files.
        var upscale = new CaptureOptions { ResizeWidth = 3840, ResizeHeight = 2160 };
        Assert.Equal(new Size(1920, 1080), FirstFrameSize(upscale, live: true));
        Assert.Equal(new Size(3840, 2160), FirstFrameSize(upscale, live: false));
        using var before = FrameSources.OpenLive(TestData.VtestShort, upscale, new ReconnectOptions());
        Assert.Equal((1920, 1080), (before.Info.Width, before.Info.Height));
    }

    private static Size FirstFrameSize(CaptureOptions options, bool live)
    {
        options.MaxFrames = 1;
        using var source = FrameSources.Open(TestData.VtestShort, options, replayAsLive: live);
        using var pool = new FramePool(1);
        using var frame = source.Read(pool, CancellationToken.None)!;
        Assert.Equal(new Size(source.Info.Width, source.Info.Height), frame.Image.Size());
        return frame.Image.Size();
    }

    /// <summary>A generated MJPEG clip (ffmpeg's testsrc2), quick to encode at any size.</summary>
    private string Generate(string name, int width, int height, int frames, int fps)
    {
        var path = Path.Combine(_folder, name);
        using var ffmpeg = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", $"testsrc2=size={width}x{height}:rate={fps}",
             "-frames:v", frames.ToString(System.Globalization.CultureInfo.InvariantCulture), "-c:v", "mjpeg", "-q:v", "5", path])
        { UseShellExecute = false })!;
        ffmpeg.WaitForExit();
        Assert.Equal(0, ffmpeg.ExitCode);
        return path;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
