using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Edge.Host.Service;
using Edge.Host.Web;
using Edge.Pipeline.Composition;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Pipeline.Telemetry;
using Edge.Tests;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Host.Tests.Web;

/// <summary>
/// The API over the real service: real streams on looping vtest footage through the real frame model, so model files,
/// the stream cap, the id case rule and /metrics after a removal are what <c>edge run</c> answers.
/// </summary>
public sealed class WebServiceTests : IAsyncLifetime
{
    private const int MaxStreams = 2;
    private readonly string _work = TestData.NewTempFolder();
    private readonly EdgeInstruments _instruments = new();
    private EdgeContext _context = null!;
    private ModelCatalog _models = null!;
    private SqliteEventStore _store = null!;
    private StreamService _service = null!;
    private EdgeMetrics _metrics = null!;
    private WebApplication _app = null!;
    private HttpClient _client = null!;

    private string ModelsFolder => Path.Combine(_work, "models");

    public async Task InitializeAsync()
    {
        // The models directory holds the frame model (linked from the prepared one) and whatever a test puts there.
        Directory.CreateDirectory(ModelsFolder);
        foreach (var file in new[] { TestData.FrameModel, Edge.Models.ModelManifest.PathFor(TestData.FrameModel) })
        {
            File.CreateSymbolicLink(Path.Combine(ModelsFolder, Path.GetFileName(file)), file);
        }
        var config = Path.Combine(_work, "edge.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            Models = new { Directory = ModelsFolder, FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 1 },
            Objects = new { Enabled = false },
            Logging = new { File = "" },
            Sources = new { FileRoots = new[] { Path.GetDirectoryName(TestData.VtestShort)! } },
            Web = new { Enabled = false },
            Service = new { DataDirectory = Path.Combine(_work, "data"), MaxStreams },
        }));
        _context = await EdgeContext.StartAsync(config, new Dictionary<string, string?>(), CancellationToken.None);
        _models = ModelCatalog.OpenShared(_context.ModelSettings(), 4, 10, NullLoggerFactory.Instance, _instruments.RecordInference);
        var events = Directory.CreateDirectory(Path.Combine(_work, "data", "events")).FullName;
        _store = new SqliteEventStore(Path.Combine(_work, "data", SqliteEventStore.FileName));
        _service = new StreamService(StreamServiceContext.From(_context, _models, _store, events, _instruments));
        _metrics = new EdgeMetrics(_instruments);
        var token = new WebToken("generated-token-0123456789", Configured: false);
        _app = EdgeWeb.Build(new WebOptions { Urls = "http://127.0.0.1:0" }, token, ModelsFolder, _service, _store, events, _metrics,
            new PreviewHub(), NullLoggerFactory.Instance);
        await _app.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_app.Urls.Single()), Timeout = TimeSpan.FromSeconds(30) };
        _client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Value);
    }

    public async Task DisposeAsync()
    {
        _client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _service.DisposeAsync();
        _metrics.Dispose();
        _store.Dispose();
        await _models.DisposeAsync();
        await _context.DisposeAsync();
        _instruments.Dispose();
        Directory.Delete(_work, recursive: true);
    }

    private Task<HttpResponseMessage> AddAsync(string id, string? anomalyModel = null) =>
        _client.PostAsync("/api/streams", new StringContent(JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["id"] = id,
            ["source"] = TestData.VtestShort,
            ["targetFps"] = 2,
            ["loop"] = true,
            ["anomalyModel"] = anomalyModel ?? "",
        }), Encoding.UTF8, "application/json"));

    private static async Task<string> ErrorAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;

    /// <summary>Stands for the frame model's manifest: a manifest of a model, but of the wrong kind.</summary>
    private const string FrameManifest = "FRAME";

    public static TheoryData<string, string?, string> NotModels => new()
    {
        // file, its manifest (null: none), what the answer must say
        { "notes.onnx", null, "model manifest not found: notes.json" },
        { "garbage.onnx", """{"name": "g", "kind": "sequence-anomaly", "inputName": "x", "inputWidth": 512, "inputHeight": 1, "inputLayout": "NTF", "channelOrder": "-", "inputElementType": "float32", "outputNames": ["score"], "windowLength": 16, "featureSize": 512, "anomaly": {"mean": 0, "std": 1, "threshold": 1, "thresholdPercentile": 99, "windows": 64}}""", "model garbage.onnx cannot be loaded" },
        { "broken.onnx", "{ not json", "model manifest broken.json is not valid" },
        { "frame.onnx", FrameManifest, "frame.onnx is a 'frame-embedding' model, not an anomaly or activity model" },
    };

    [Theory]
    [MemberData(nameof(NotModels))]
    public async Task AddStream_FileThatIsNotAModel_400NamingTheProblem(string file, string? manifest, string problem)
    {
        if (manifest == FrameManifest)
        {
            manifest = await File.ReadAllTextAsync(Edge.Models.ModelManifest.PathFor(TestData.FrameModel));
        }
        if (manifest is not null)
        {
            await File.WriteAllTextAsync(Path.Combine(ModelsFolder, Path.ChangeExtension(file, ".json")), manifest);
        }
        if (!File.Exists(Path.Combine(ModelsFolder, file)))
        {
            await File.WriteAllTextAsync(Path.Combine(ModelsFolder, file), "this is not an ONNX model\n");
        }
        using var response = await AddAsync("cam", file);
        var error = await ErrorAsync(response);
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"{(int)response.StatusCode}: {error}");
        Assert.Contains(problem, error, StringComparison.Ordinal);
        Assert.DoesNotContain(_work, error, StringComparison.Ordinal); // names the file as the client did
        Assert.Empty(_service.Streams);
    }

    [Fact]
    public async Task AddStream_PastMaxStreams_429WithTheLimit()
    {
        for (var i = 0; i < MaxStreams; i++)
        {
            using var added = await AddAsync("cam" + i);
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        using var refused = await AddAsync("one-too-many");
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Contains($"Service:MaxStreams = {MaxStreams}", await ErrorAsync(refused), StringComparison.Ordinal);
        Assert.Equal(MaxStreams, _service.Streams.Count);

        using var removed = await _client.DeleteAsync("/api/streams/cam0");
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        using var again = await AddAsync("one-too-many");
        Assert.Equal(HttpStatusCode.Created, again.StatusCode); // room again after a removal
    }

    [Fact]
    public async Task StreamIds_OtherCase_NotFoundAndRefusedAsDuplicate()
    {
        using (var added = await AddAsync("Gate"))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        using var lower = await _client.GetAsync("/api/streams/gate");
        Assert.Equal(HttpStatusCode.NotFound, lower.StatusCode); // ids are exact, as in previews, metrics and events
        using var same = await _client.GetAsync("/api/streams/Gate");
        Assert.Equal(HttpStatusCode.OK, same.StatusCode);
        using var duplicate = await AddAsync("gate");
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("stream 'Gate' already exists; ids may not differ only in case", await ErrorAsync(duplicate));
        using var delete = await _client.DeleteAsync("/api/streams/GATE");
        Assert.Equal(HttpStatusCode.NotFound, delete.StatusCode);
        Assert.Equal(["Gate"], _service.Streams.Select(s => s.Id));
    }

    [Fact]
    public async Task RemoveStream_ItsSeries_GoneFromMetrics()
    {
        foreach (var id in new[] { "stay", "leave" })
        {
            using var added = await AddAsync(id);
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        var clock = Stopwatch.StartNew();
        while (!_service.Streams.All(s => s.FramesProcessed >= 2))
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), "both streams process frames");
            await Task.Delay(100);
        }
        var before = await _client.GetStringAsync("/metrics");
        Assert.Contains("edge_frame_age_seconds_count{stream=\"leave\"}", before, StringComparison.Ordinal);
        Assert.Contains("edge_stream_up{stream=\"leave\"} 1", before, StringComparison.Ordinal);

        using var removed = await _client.DeleteAsync("/api/streams/leave");
        Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        var after = await _client.GetStringAsync("/metrics");
        Assert.DoesNotContain("stream=\"leave\"", after, StringComparison.Ordinal);
        Assert.Contains("edge_frame_age_seconds_count{stream=\"stay\"}", after, StringComparison.Ordinal);
        Assert.Contains("edge_inference_seconds_count", after, StringComparison.Ordinal);
    }
}
