using System.Net;
using System.Text;
using Edge.Capture;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Pipeline;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests.Web;

/// <summary>Live previews: real vtest frames through <see cref="PreviewSink"/> into the hub, served as JPEG and MJPEG.</summary>
public sealed class PreviewTests : IAsyncLifetime
{
    private readonly FramePool _pool = new(2);
    private readonly VideoCapture _video = new(TestData.VtestShort);
    private WebServer _server = null!;

    public async Task InitializeAsync() => _server = await WebServer.StartAsync();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _video.Dispose();
        _pool.Dispose();
    }

    /// <summary>Reads the next video frame and sends it through the sink, as the pipeline's sink stage would.</summary>
    private async Task WriteFrameAsync(PreviewSink sink, long index, float anomalyScore)
    {
        using var frame = _pool.Rent(CancellationToken.None);
        Assert.True(_video.Read(frame.Image));
        frame.Stamp("cam1", index, index * 100.0);
        var result = new FrameResult("cam1", index, index * 100.0, [], 0, frame.CapturedTicks)
        {
            Pixels = frame,
            Analysis = new FrameAnalysis(AnomalyScore: anomalyScore),
        };
        await sink.WriteAsync(result, CancellationToken.None);
    }

    [Fact]
    public async Task PreviewSink_FramesWithinInterval_PublishesOnlyTheFirst()
    {
        await using var sink = new PreviewSink(_server.Previews, intervalMs: 60_000);
        for (var i = 0; i < 5; i++)
        {
            await WriteFrameAsync(sink, i, 0.2f);
        }
        Assert.Equal(1, _server.Previews.Latest("cam1")?.Sequence);
        Assert.Equal(0, _pool.Outstanding); // the sink keeps no frame
    }

    [Fact]
    public async Task PreviewJpg_AfterAFrame_IsTheAnnotatedFrame()
    {
        using var none = await _server.Client.GetAsync("/api/streams/cam1/preview.jpg");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        await using (var sink = new PreviewSink(_server.Previews, intervalMs: 200))
        {
            await WriteFrameAsync(sink, 0, 1.0f);
        }
        using var response = await _server.Client.GetAsync("/api/streams/cam1/preview.jpg");
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
        using var image = Cv2.ImDecode(await response.Content.ReadAsByteArrayAsync(), ImreadModes.Color);
        Assert.Equal((768, 576), (image.Width, image.Height));
        // Score 1.0 fills the bar along the bottom edge in red (BGR 0,0,255), as annotated.mp4 draws it.
        var bar = image.At<Vec3b>(image.Height - 13, image.Width / 2);
        Assert.True(bar.Item2 > 200 && bar.Item1 < 60 && bar.Item0 < 60, $"bar pixel {bar.Item0},{bar.Item1},{bar.Item2}");
        // The text box behind the stream name is black.
        using var box = new Mat(image, new Rect(5, 9, 3, 15));
        Assert.True(Cv2.Mean(box).Val0 < 40, $"text box mean {Cv2.Mean(box).Val0}");
        using var unknown = await _server.Client.GetAsync("/api/streams/cam9/preview.jpg");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task PreviewMjpeg_NewFrames_ArriveAsJpegParts()
    {
        using var response = await _server.Client.GetAsync("/api/streams/cam1/preview.mjpg", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("multipart/x-mixed-replace", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("edgeframe", response.Content.Headers.ContentType?.Parameters.Single(p => p.Name == "boundary").Value);
        await using var body = await response.Content.ReadAsStreamAsync();
        await using var sink = new PreviewSink(_server.Previews, intervalMs: 20);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal("--edgeframe", await ReadLineAsync(body, timeout.Token));
        var parts = new List<byte[]>();
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(40);
            await WriteFrameAsync(sink, i, 0.1f * i);
            parts.Add(await ReadPartAsync(body));
        }
        Assert.Equal(3, _server.Previews.Latest("cam1")?.Sequence);
        foreach (var part in parts)
        {
            using var image = Cv2.ImDecode(part, ImreadModes.Color);
            Assert.Equal((768, 576), (image.Width, image.Height));
        }
        Assert.NotEqual(parts[0], parts[2]);
    }

    [Fact]
    public async Task PreviewHub_NextAfterRemoveAndReAdd_IsTheNewStreamsFrame()
    {
        var hub = new Edge.Pipeline.Outputs.PreviewHub();
        hub.Publish("cam1", [1]);
        hub.Publish("cam1", [2]);
        var seen = hub.Latest("cam1")!.Sequence;
        var waiting = hub.NextAsync("cam1", seen, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        hub.Publish("cam1", [3]);
        Assert.Equal([3], (await waiting).Jpeg);
        hub.Remove("cam1");
        Assert.Null(hub.Latest("cam1"));
        hub.Publish("cam1", [4]); // the same id added again
        Assert.Equal([4], (await hub.NextAsync("cam1", (await waiting).Sequence, CancellationToken.None)).Jpeg);
    }

    /// <summary>One multipart part: headers with Content-Length, a blank line, the JPEG, CRLF and the boundary.</summary>
    private static async Task<byte[]> ReadPartAsync(Stream body)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var length = -1;
        for (var line = await ReadLineAsync(body, timeout.Token); line.Length > 0; line = await ReadLineAsync(body, timeout.Token))
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
            {
                length = int.Parse(line["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                Assert.Equal("Content-Type: image/jpeg", line);
            }
        }
        Assert.True(length > 1000, $"part length {length}");
        var jpeg = new byte[length];
        await body.ReadExactlyAsync(jpeg, timeout.Token);
        Assert.Equal("", await ReadLineAsync(body, timeout.Token));
        Assert.Equal("--edgeframe", await ReadLineAsync(body, timeout.Token));
        return jpeg;
    }

    private static async Task<string> ReadLineAsync(Stream body, CancellationToken ct)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        while (true)
        {
            await body.ReadExactlyAsync(one, ct);
            if (one[0] == '\n')
            {
                return line.ToString().TrimEnd('\r');
            }
            line.Append((char)one[0]);
        }
    }
}
