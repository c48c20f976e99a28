using System.Diagnostics;
using Edge.Capture;
using Edge.Tests;

namespace Edge.Capture.Tests;

/// <summary>Each kind of bad input gives its own error kind and a message naming the input.</summary>
public sealed class BadSourceTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    public static TheoryData<string, CaptureError, string> Cases => new()
    {
        { "missing.avi", CaptureError.NotFound, "video file not found" },
        { "empty-folder", CaptureError.Undecodable, "no images" },
        { "random.avi", CaptureError.Undecodable, "not a video that can be decoded" },
        { "truncated.avi", CaptureError.Truncated, "video ends early" },
        { "/dev/video97", CaptureError.NotFound, "camera not found" },
        { "97", CaptureError.NotFound, "camera 97 not found" },
        { "rtsp://127.0.0.1:9/none", CaptureError.Unreachable, "stream did not answer" },
        { "http://127.0.0.1:9/video.mjpg", CaptureError.Unreachable, "stream did not answer" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void OpenAndReadToEnd_BadInput_FailsWithItsError(string input, CaptureError expected, string message)
    {
        var location = Prepare(input);
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CaptureException>(() =>
        {
            using var source = FrameSources.Open(location, new CaptureOptions { OpenTimeoutMs = 2000 });
            using var pool = new FramePool(2);
            while (source.Read(pool, CancellationToken.None) is { } frame)
            {
                frame.Dispose();
            }
        });
        Assert.Equal(expected, error.Error);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"failing took {clock.Elapsed}");
    }

    [Fact]
    public void Redact_UrlWithCredentials_HidesThem()
    {
        Assert.Equal("rtsp://***@cam.local:554/live", VideoCaptureSource.Redact("rtsp://admin:secret@cam.local:554/live"));
        Assert.Equal("rtsp://cam.local/live", VideoCaptureSource.Redact("rtsp://cam.local/live"));
        // ffmpeg's messages repeat the URL; a password may hold an unencoded @.
        Assert.Equal("rtsp://***@cam.local/live: Connection refused; http://***@10.0.0.2/a@b",
            VideoCaptureSource.Redact("rtsp://admin:p@ss@cam.local/live: Connection refused; http://u:v@10.0.0.2/a@b"));
    }

    private string Prepare(string input)
    {
        var path = Path.Combine(_folder, input);
        switch (input)
        {
            case "empty-folder":
                Directory.CreateDirectory(path);
                return path;
            case "random.avi":
                var bytes = new byte[100_000];
                new Random(7).NextBytes(bytes);
                File.WriteAllBytes(path, bytes);
                return path;
            case "truncated.avi":
                // The first 40 % of vtest.avi: the header still says 795 frames, about 314 decode.
                var whole = File.ReadAllBytes(TestData.Vtest);
                File.WriteAllBytes(path, whole.AsSpan(0, whole.Length * 2 / 5).ToArray());
                return path;
            case "missing.avi":
                return path;
            default:
                return input;
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
