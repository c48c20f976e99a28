using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Edge.Capture;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Capture.Tests;

/// <summary>A real HTTP MJPEG server (ffmpeg -listen 1, serving vtest-50.avi at its 10 fps) read by Edge.</summary>
public sealed class NetworkStreamSourceTests : IDisposable
{
    private readonly Process _server;
    private readonly string _url;

    public NetworkStreamSourceTests()
    {
        int port;
        using (var probe = new TcpListener(IPAddress.Loopback, 0))
        {
            probe.Start();
            port = ((IPEndPoint)probe.LocalEndpoint).Port;
        }
        _url = $"http://127.0.0.1:{port}/cam.mjpg";
        _server = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", TestData.VtestShort, "-c:v", "mjpeg", "-q:v", "3",
             "-f", "mpjpeg", "-listen", "1", _url])
        { UseShellExecute = false, RedirectStandardError = true })!;
        MjpegHttpServer.WaitForListen(port);
    }

    [Fact]
    public void Read_HttpMjpegStream_EveryFrameLiveWithTheFilesPixels()
    {
        var started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        using var source = FrameSources.Open(_url, new CaptureOptions());
        // MJPEG over HTTP carries no frame rate: the reported one is ffmpeg's default guess, so it is not checked.
        Assert.Equal((SourceKind.Network, true, 768, 576, (long?)null), (source.Info.Kind, source.Info.IsLive,
            source.Info.Width, source.Info.Height, source.Info.FrameCount));
        using var reference = new VideoCapture(TestData.VtestShort);
        using var expected = new Mat();
        using var difference = new Mat();
        using var pool = new FramePool(2);
        var indices = new List<long>();
        var timestamps = new List<double>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                indices.Add(frame.Index);
                timestamps.Add(frame.TimestampMs);
                Assert.True(reference.Read(expected));
                Cv2.Absdiff(frame.Image, expected, difference);
                var meanError = Cv2.Mean(difference);
                Assert.True(meanError.Val0 + meanError.Val1 + meanError.Val2 < 15, $"frame {frame.Index}: mean error {meanError.Val0}");
            }
        }
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), indices);
        Assert.InRange(timestamps[0], started, started + 10_000);
        // Served at 10 fps: wall-clock stamps span about the 4.9 s of the clip.
        Assert.InRange(timestamps[^1] - timestamps[0], 3000, 8000);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Open_HardwareDecode_CudaWhereItCannotRun_OneClearError_OffReadsTheStream()
    {
        var options = new CaptureOptions { HardwareDecode = HardwareDecodeMode.Cuda };
        if (HardwareDecode.CudaAvailable(out var reason))
        {
            // A machine whose ffmpeg decodes on the GPU: the stream reads the same with it.
            using var onGpu = FrameSources.Open(_url, options);
            using var gpuPool = new FramePool(2);
            using var first = onGpu.Read(gpuPool, CancellationToken.None);
            Assert.NotNull(first);
            Assert.Equal((768, 576), (first.Image.Width, first.Image.Height));
            return;
        }
        Assert.False(string.IsNullOrWhiteSpace(reason));
        var error = Assert.Throws<CaptureException>(() => FrameSources.Open(_url, options));
        Assert.Contains("Capture:HardwareDecode is Cuda", error.Message, StringComparison.Ordinal);
        Assert.Contains(reason, error.Message, StringComparison.Ordinal);

        // Nothing was opened: the server still serves, and Off reads it on the CPU.
        using var source = FrameSources.Open(_url, new CaptureOptions { HardwareDecode = HardwareDecodeMode.Off });
        using var pool = new FramePool(2);
        var frames = 0;
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                frames++;
            }
        }
        Assert.Equal(50, frames);
    }

    [Fact]
    public void Read_ServerStops_StreamEndsAndNoLeaseIsLeft()
    {
        using var source = FrameSources.Open(_url, new CaptureOptions { ReadTimeoutMs = 2000, ResizeWidth = 384, ResizeHeight = 288 });
        using var pool = new FramePool(2);
        var count = 0;
        var clock = Stopwatch.StartNew();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                Assert.Equal(new Size(384, 288), frame.Image.Size());
                if (++count == 10)
                {
                    _server.Kill();
                }
            }
        }
        // Frames already in the pipes when the server died still arrive.
        Assert.InRange(count, 10, 30);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10));
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Read_TargetFps_KeepsFramesByWallClock()
    {
        using var source = FrameSources.Open(_url, new CaptureOptions { TargetFps = 4 });
        using var pool = new FramePool(2);
        var timestamps = new List<double>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                timestamps.Add(frame.TimestampMs);
            }
        }
        // 50 frames over about 5 s at 10 fps, kept on a 4 fps schedule: 250 ms apart as a rule (the 10 fps camera's
        // frames fall 200 or 300 ms apart on it; the stream's own stalls make longer gaps), never two source frames in
        // a row.
        Assert.InRange(timestamps.Count, 12, 30);
        var gaps = timestamps.Zip(timestamps.Skip(1)).Select(p => p.Second - p.First).Order().ToList();
        var shown = string.Join(", ", gaps);
        Assert.True(gaps[gaps.Count / 2] is >= 190 and <= 310, $"median gap {gaps[gaps.Count / 2]}: {shown}");
        Assert.True(gaps[0] >= 150, shown);
    }

    public void Dispose()
    {
        if (!_server.HasExited)
        {
            _server.Kill();
        }
        _server.Dispose();
    }
}
