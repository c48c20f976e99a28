using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Edge.Host.Service;
using OpenCvSharp;

namespace Edge.Host.Tests.Web;

/// <summary>The REST API over real HTTP against real Kestrel and a real event store.</summary>
public sealed class WebApiTests : IAsyncLifetime
{
    private WebServer _server = null!;

    private HttpClient Client => _server.Client;

    public async Task InitializeAsync() => _server = await WebServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Streams_ListGetAddRemove_AnswersWithStatusAndCodes()
    {
        var list = await GetJsonAsync("/api/streams");
        Assert.Equal(["cam1", "cam2"], list.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        var cam1 = await GetJsonAsync("/api/streams/cam1");
        Assert.Equal("running", cam1.GetProperty("state").GetString());
        Assert.Equal(9.5, cam1.GetProperty("fps").GetDouble());
        Assert.Equal(7, cam1.GetProperty("framesDropped").GetInt64());
        Assert.Equal("rtsp://***@camera-1/stream", cam1.GetProperty("source").GetString());
        Assert.Equal([0.1f, 0.2f, 1.4f, 0.37f], (await GetJsonAsync("/api/streams/cam1/anomaly")).GetProperty("scores").EnumerateArray().Select(v => v.GetSingle()));

        using var created = await Client.PostAsync("/api/streams", Json("""{"id": "gate-3", "source": "rtsp://user:pw@10.0.0.3/live", "targetFps": 5, "loop": false}"""));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("/api/streams/gate-3", created.Headers.Location?.OriginalString);
        var body = await created.Content.ReadAsStringAsync();
        Assert.Equal("running", JsonDocument.Parse(body).RootElement.GetProperty("state").GetString());
        Assert.DoesNotContain("pw@", body, StringComparison.Ordinal);
        var added = Assert.Single(_server.Registry.Added);
        Assert.Equal(new StreamDefinition("gate-3", "rtsp://user:pw@10.0.0.3/live", 5), added);
        Assert.Equal(3, (await GetJsonAsync("/api/streams")).GetArrayLength());

        using var duplicate = await Client.PostAsync("/api/streams", Json("""{"id": "gate-3", "source": "0"}"""));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("stream 'gate-3' already exists", await ErrorAsync(duplicate));

        // The keys of a Service:Streams entry: this stream's learning period and event rules come through as sent.
        using var learning = await Client.PostAsync("/api/streams", Json("""{"id": "yard", "source": "0", "learnMinutes": 45, "events": {"anomalyEnter": 1.5, "anomalyExit": 1.2}}"""));
        Assert.Equal(HttpStatusCode.Created, learning.StatusCode);
        var yard = _server.Registry.Added[^1];
        Assert.Equal((45.0, 1.5f, 1.2f), (yard.LearnMinutes!.Value, (float)yard.Events!.AnomalyEnter, (float)yard.Events.AnomalyExit));

        using var removed = await Client.DeleteAsync("/api/streams/gate-3");
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        using var again = await Client.DeleteAsync("/api/streams/gate-3");
        Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        using var missing = await Client.GetAsync("/api/streams/gate-3");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("no stream 'gate-3'", await ErrorAsync(missing));
    }

    public static TheoryData<string, string> BadDefinitions => new()
    {
        { """{"source": "0"}""", "'id' is required" },
        { """{"id": "a b", "source": "0"}""", "'id' must be 1-64 characters" },
        { """{"id": "x"}""", "'source' is required" },
        { """{"id": "x", "source": "0", "targetFps": -1}""", "'targetFps' must be between 0" },
        { """{"id": "x", "source": "0", "targetFsp": 5}""", "the body is not a stream definition" },
        { """{"id": "x", "source": """, "the body is not a stream definition" },
        { "", "the body is not a stream definition" },
        { "null", "the body is empty" },
    };

    [Theory]
    [MemberData(nameof(BadDefinitions))]
    public async Task AddStream_BadDefinition_400WithClearMessage(string json, string message)
    {
        using var response = await Client.PostAsync("/api/streams", Json(json));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await ErrorAsync(response), StringComparison.Ordinal);
        Assert.Empty(_server.Registry.Added);
    }

    public static TheoryData<string, string[]> EventQueries => new()
    {
        { "", ["b2", "a5", "a4", "a3", "a2", "b1", "a1"] },
        { "?stream=cam1", ["a5", "a4", "a3", "a2", "a1"] },
        { "?stream=cam1&kind=anomaly", ["a4", "a2", "a1"] },
        { "?kind=activity", ["b2", "a5", "a3"] },
        { "?minScore=1.5", ["a4", "a2", "a1"] },
        { "?from=2000&to=4000", ["a3", "a2"] },
        { "?from=1970-01-01T00:00:04Z", ["b2", "a5", "a4"] },
        { "?stream=cam3", [] },
    };

    [Theory]
    [MemberData(nameof(EventQueries))]
    public async Task Events_Filters_ReturnMatchingEventsNewestFirst(string query, string[] ids)
    {
        var page = await GetJsonAsync("/api/events" + query);
        Assert.Equal(ids, page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(JsonValueKind.Null, page.GetProperty("next").ValueKind);
    }

    [Fact]
    public async Task Events_Paging_FollowsNextLinksOverEveryEventOnce()
    {
        var seen = new List<string>();
        var url = "/api/events?limit=2&stream=cam1";
        var pages = 0;
        while (url is not null)
        {
            var page = await GetJsonAsync(url);
            var items = page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList();
            Assert.InRange(items.Count, 1, 2);
            seen.AddRange(items);
            url = page.GetProperty("nextUrl").GetString();
            pages++;
        }
        // a4 and a5 start at the same time: the cursor's id tie-break keeps both, once each.
        Assert.Equal(["a5", "a4", "a3", "a2", "a1"], seen);
        Assert.Equal(3, pages);
    }

    [Theory]
    [InlineData("?limit=501", "'limit' must be a whole number from 1 to 500")]
    [InlineData("?limit=0", "'limit' must be a whole number from 1 to 500")]
    [InlineData("?minScore=high", "'minScore' must be a number")]
    [InlineData("?from=yesterday", "'from' must be an ISO 8601 time")]
    [InlineData("?cursor=@@", "'cursor' is not a cursor")]
    public async Task Events_BadQuery_400WithClearMessage(string query, string message)
    {
        using var response = await Client.GetAsync("/api/events" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(message, await ErrorAsync(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Event_ById_HasFieldsAndFileLinks()
    {
        var a1 = await GetJsonAsync("/api/events/a1");
        Assert.Equal(("cam1", "anomaly", 3.5, 1500.0), (a1.GetProperty("stream").GetString(), a1.GetProperty("kind").GetString(),
            a1.GetProperty("peakScore").GetDouble(), a1.GetProperty("durationMs").GetDouble()));
        Assert.Equal("/api/events/a1/snapshot", a1.GetProperty("snapshotUrl").GetString());
        Assert.Equal("/api/events/a1/clip", a1.GetProperty("clipUrl").GetString());
        var a2 = await GetJsonAsync("/api/events/a2");
        Assert.Equal(JsonValueKind.Null, a2.GetProperty("snapshotUrl").ValueKind);
        using var none = await Client.GetAsync("/api/events/zz");
        Assert.Equal(HttpStatusCode.NotFound, none.StatusCode);
        using var noSnapshot = await Client.GetAsync("/api/events/a2/snapshot");
        Assert.Equal(HttpStatusCode.NotFound, noSnapshot.StatusCode);
        Assert.Equal("event 'a2' has no snapshot", await ErrorAsync(noSnapshot));
    }

    [Fact]
    public async Task Snapshot_IsTheStoredJpegOfTheVideoFrame()
    {
        using var response = await Client.GetAsync("/api/events/b1/snapshot");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("image/jpeg", response.Content.Headers.ContentType?.MediaType);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(_server.Folder, "event-b1.jpg")), bytes);
        using var image = Cv2.ImDecode(bytes, ImreadModes.Color);
        Assert.Equal((768, 576), (image.Width, image.Height));
        Assert.InRange(Cv2.Mean(image).Val0, 20, 235); // a real scene, not a blank image
    }

    [Fact]
    public async Task Clip_FullAndRanged_DecodesAsTheWrittenVideo()
    {
        var path = Path.Combine(_server.Folder, "event-a1.avi");
        var size = new FileInfo(path).Length;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events/a1/clip");
        request.Headers.Range = new RangeHeaderValue(100, 1099);
        using var ranged = await Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.PartialContent, ranged.StatusCode);
        Assert.Equal((100L, 1099L, size), (ranged.Content.Headers.ContentRange!.From!.Value, ranged.Content.Headers.ContentRange.To!.Value, ranged.Content.Headers.ContentRange.Length!.Value));
        Assert.Equal((await File.ReadAllBytesAsync(path)).AsSpan(100, 1000).ToArray(), await ranged.Content.ReadAsByteArrayAsync());

        using var full = await Client.GetAsync("/api/events/a1/clip");
        Assert.Equal("video/x-msvideo", full.Content.Headers.ContentType?.MediaType);
        Assert.Equal("bytes", string.Join(",", full.Headers.AcceptRanges));
        var copy = Path.Combine(_server.Folder, "downloaded.avi");
        await File.WriteAllBytesAsync(copy, await full.Content.ReadAsByteArrayAsync());
        using var capture = new VideoCapture(copy);
        using var frame = new Mat();
        var frames = 0;
        while (capture.Read(frame) && !frame.Empty())
        {
            Assert.Equal((384, 288), (frame.Width, frame.Height));
            frames++;
        }
        Assert.Equal(WebServer.ClipFrames, frames);
    }

    [Fact]
    public async Task Healthz_RunningStream_OkElse503WithReason()
    {
        Assert.Equal("ok", await Client.GetStringAsync("/healthz"));
        var cam1 = _server.Registry.Find("cam1")!;
        _server.Registry.Set(cam1 with { State = StreamState.Backoff });
        using var down = await Client.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, down.StatusCode);
        Assert.Equal("no stream is running (2 backoff)", await down.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Dashboard_ServesPageScriptAndStyle()
    {
        using var page = await Client.GetAsync("/");
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script src=\"app.js\">", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Contains("refreshStreams", await Client.GetStringAsync("/app.js"), StringComparison.Ordinal);
        Assert.Contains(".card", await Client.GetStringAsync("/app.css"), StringComparison.Ordinal);
    }

    private async Task<JsonElement> GetJsonAsync(string url)
    {
        using var response = await Client.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{url}: {(int)response.StatusCode} {text}");
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static async Task<string> ErrorAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
