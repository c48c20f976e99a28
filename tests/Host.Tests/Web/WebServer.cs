using Edge.Capture;
using Edge.Host.Service;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Host.Web;
using Edge.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Host.Tests.Web;

/// <summary>
/// The web app on real Kestrel at a free loopback port, over a real <see cref="SqliteEventStore"/> holding real events:
/// snapshots are JPEGs of vtest.avi frames, one clip is an MJPEG AVI of vtest frames. Two canned streams, cam1
/// (running) and cam2 (in backoff). Disposing stops the app and deletes the folder.
/// </summary>
public sealed class WebServer : IAsyncDisposable
{
    public const int ClipFrames = 12;

    private readonly WebApplication _app;

    public string Folder { get; }

    /// <summary>The models directory the API may name models in (empty; tests put files there).</summary>
    public string ModelsFolder => Path.Combine(Folder, "models");

    public required CannedStreamRegistry Registry { get; init; }

    public SqliteEventStore Events { get; }

    public required EdgeMetrics Metrics { get; init; }

    public required PreviewHub Previews { get; init; }

    /// <summary>
    /// Sends the API token as a Bearer header when the server's token was generated (the loopback default, where
    /// changes need it and reads do not); with a configured <c>Web:ApiToken</c> it sends none, so tests see the 401s.
    /// </summary>
    public HttpClient Client { get; }

    /// <summary>The server's API token: the configured one, or the one generated for this server.</summary>
    public required WebToken Token { get; init; }

    public Uri BaseAddress { get; }

    /// <summary>The stored events, by id.</summary>
    public IReadOnlyDictionary<string, DetectedEvent> Stored { get; }

    private WebServer(WebApplication app, SqliteEventStore events, IReadOnlyDictionary<string, DetectedEvent> stored, string folder, WebToken token)
    {
        _app = app;
        Events = events;
        Stored = stored;
        Folder = folder;
        BaseAddress = new Uri(app.Urls.Single());
        Client = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(20) };
        if (!token.Configured)
        {
            Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token.Value);
        }
    }

    /// <param name="apiToken">Web:ApiToken; empty: a token is generated as <c>edge run</c> does on loopback.</param>
    /// <param name="configure">Changes to the web options (media URL lifetime, allowed hosts).</param>
    public static async Task<WebServer> StartAsync(string apiToken = "", CannedStreamRegistry? registry = null,
        Microsoft.Extensions.Logging.ILoggerFactory? loggerFactory = null, Action<WebOptions>? configure = null)
    {
        var folder = TestData.NewTempFolder();
        var events = new SqliteEventStore(Path.Combine(folder, SqliteEventStore.FileName));
        var stored = StoreEvents(events, folder);
        var options = new WebOptions { Urls = "http://127.0.0.1:0", ApiToken = apiToken };
        configure?.Invoke(options);
        var token = WebToken.Resolve(options, folder, out _);
        registry ??= new CannedStreamRegistry();
        registry.Set(new StreamStatus("cam1", "rtsp://***@camera-1/stream", StreamState.Running, null, DateTime.UtcNow,
            1200, 1190, 7, 1, 9.5, 42, 180, "walking", 0.37f, 3), 0.1f, 0.2f, 1.4f, 0.37f);
        registry.Set(new StreamStatus("cam2", "rtsp://***@camera-2/stream", StreamState.Backoff, "stream did not answer", null,
            10, 10, 0, 4, 0, 0, 0, null, null, 0));
        var previews = new PreviewHub();
        var metrics = new EdgeMetrics();
        var models = Directory.CreateDirectory(Path.Combine(folder, "models")).FullName;
        var app = EdgeWeb.Build(options, token, models, registry, events, folder, metrics, previews,
            loggerFactory ?? NullLoggerFactory.Instance);
        await app.StartAsync();
        return new WebServer(app, events, stored, folder, token) { Registry = registry, Previews = previews, Metrics = metrics, Token = token };
    }

    /// <summary>
    /// Seven events over two streams, both kinds, scores 0.5 to 3.5 and start times 1 s apart (two share a start time,
    /// to test the cursor's tie-break on id). a1 has a snapshot and a clip, b1 a snapshot.
    /// </summary>
    private static Dictionary<string, DetectedEvent> StoreEvents(SqliteEventStore events, string folder)
    {
        using var capture = new VideoCapture(TestData.VtestShort);
        using var frame = new Mat();
        var jpegs = new List<byte[]>();
        using (var clip = new VideoWriter(Path.Combine(folder, "event-a1.avi"), FourCC.MJPG, 10, new OpenCvSharp.Size(384, 288)))
        using (var small = new Mat())
        {
            for (var i = 0; i < ClipFrames && capture.Read(frame); i++)
            {
                Cv2.Resize(frame, small, new OpenCvSharp.Size(384, 288));
                clip.Write(small);
                if (i % 6 == 0)
                {
                    Cv2.ImEncode(".jpg", frame, out var jpeg);
                    jpegs.Add(jpeg);
                }
            }
        }
        File.WriteAllBytes(Path.Combine(folder, "event-a1.jpg"), jpegs[0]);
        File.WriteAllBytes(Path.Combine(folder, "event-b1.jpg"), jpegs[1]);
        DetectedEvent[] all =
        [
            new("a1", "cam1", DetectedEvent.AnomalyKind, "anomaly", 1000, 2500, 10, 25, 3.5, 17) { Snapshot = "event-a1.jpg", Clip = "event-a1.avi" },
            new("a2", "cam1", DetectedEvent.AnomalyKind, "anomaly", 2000, 2600, 20, 26, 1.5, 22),
            new("a3", "cam1", DetectedEvent.ActivityKind, "running", 3000, 4000, 30, 40, 0.9, 35),
            new("a4", "cam1", DetectedEvent.AnomalyKind, "anomaly", 4000, 4800, 40, 48, 2.5, 44),
            new("a5", "cam1", DetectedEvent.ActivityKind, "running", 4000, 5000, 40, 50, 0.5, 45),
            new("b1", "cam2", DetectedEvent.AnomalyKind, "anomaly", 1500, 2000, 15, 20, 1.2, 18) { Snapshot = "event-b1.jpg" },
            new("b2", "cam2", DetectedEvent.ActivityKind, "fall", 6000, 7000, 60, 70, 0.8, 65),
        ];
        foreach (var e in all)
        {
            events.Add(e);
        }
        return all.ToDictionary(e => e.Id);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        Metrics.Dispose();
        Events.Dispose();
        Directory.Delete(Folder, recursive: true);
    }
}
