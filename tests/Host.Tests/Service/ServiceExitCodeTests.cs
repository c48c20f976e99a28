using System.Text.Json;
using Edge.Models;
using Edge.Tests;

namespace Edge.Host.Tests.Service;

/// <summary>Expected failures of <c>edge run</c> (and a bad manifest in <c>edge process</c>): one error line, the documented code.</summary>
public sealed class ServiceExitCodeTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    public static TheoryData<string, int, string> Cases => new()
    {
        { "process: anomaly manifest with windowStride 0", ExitCodes.ModelInvalid, "windowStride is 0 in its manifest; it must be at least 1" },
        { "run: anomaly manifest with windowStride 0", ExitCodes.ModelInvalid, "Service:Streams: stream 'cam':" },
        { "run: events.db is not a database", ExitCodes.OutputNotWritable, "cannot open the event store" },
        { "run: outbox is not a database", ExitCodes.OutputNotWritable, "cannot open the delivery outbox" },
        { "run: https without a certificate", ExitCodes.Config, "is https:// but Web:CertificateFile is not set" },
        { "run: MQTT CA file missing", ExitCodes.Config, "Delivery:Mqtt:CaFile: file not found: nowhere/ca.pem" },
        { "run: restart backoff bounds crossed", ExitCodes.Config, "Service:MaxRestartBackoffMs (100) must be at least Service:RestartBackoffMs (1000)" },
        { "run: events shorter than their minimum", ExitCodes.Config, "Events:MinDurationMs (5000) must not be above Events:MaxDurationMs (2000)" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Run_ExpectedFailure_OneErrorLineAndItsExitCode(string name, int exitCode, string message)
    {
        var args = Arrange(name);

        var result = await EdgeProcess.RunAsync(_work, [.. args, "--model", TestData.FrameModel, "--provider", "cpu", "--threads", "2"]);

        Assert.True(exitCode == result.ExitCode, $"{name}: exit code {result.ExitCode}, stderr: {result.Stderr}");
        var errorLines = result.Stderr.Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToList();
        var line = Assert.Single(errorLines);
        Assert.Contains(message, line, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
    }

    private string[] Arrange(string name)
    {
        var data = Path.Combine(_work, "data");
        object service = new { DataDirectory = data };
        object? web = new { Enabled = false };
        object? delivery = null;
        object? events = null;
        object? analysis = null;
        switch (name)
        {
            case "process: anomaly manifest with windowStride 0":
                return ["process", TestData.VtestShort, "--out", "out", "--anomaly-model", WriteStrideZeroModel()];
            case "run: anomaly manifest with windowStride 0":
                analysis = new { AnomalyModel = WriteStrideZeroModel() };
                service = new { DataDirectory = data, Streams = new[] { new { Id = "cam", Source = "0" } } };
                break;
            case "run: events.db is not a database":
                Directory.CreateDirectory(data);
                File.WriteAllText(Path.Combine(data, "events.db"), string.Concat(Enumerable.Repeat("this is not an SQLite database. ", 256)));
                break;
            case "run: outbox is not a database":
                File.WriteAllText(Path.Combine(_work, "outbox.db"), "not a database, but text long enough to be read as one's header");
                delivery = new { OutboxPath = Path.Combine(_work, "outbox.db"), Webhook = new { Enabled = true, Url = "http://127.0.0.1:9/hook" } };
                break;
            case "run: https without a certificate":
                web = new { Urls = "https://127.0.0.1:0" };
                break;
            case "run: MQTT CA file missing":
                delivery = new { Mqtt = new { Enabled = true, UseTls = true, CaFile = "nowhere/ca.pem" } };
                break;
            case "run: restart backoff bounds crossed":
                service = new { DataDirectory = data, RestartBackoffMs = 1000, MaxRestartBackoffMs = 100 };
                break;
            case "run: events shorter than their minimum":
                events = new { MinDurationMs = 5000, MaxDurationMs = 2000 };
                break;
            default:
                throw new ArgumentException(name);
        }
        var config = new Dictionary<string, object> { ["Logging"] = new { File = "" }, ["Service"] = service };
        if (web is not null)
        {
            config["Web"] = web;
        }
        if (delivery is not null)
        {
            config["Delivery"] = delivery;
        }
        if (events is not null)
        {
            config["Events"] = events;
        }
        if (analysis is not null)
        {
            config["Analysis"] = analysis;
        }
        var path = Path.Combine(_work, "edge.json");
        File.WriteAllText(path, JsonSerializer.Serialize(config));
        return ["run", "--config", path];
    }

    /// <summary>An anomaly model whose manifest says windowStride 0 (the check comes before the graph is read).</summary>
    private string WriteStrideZeroModel()
    {
        var model = Path.Combine(_work, "stride0.onnx");
        File.WriteAllBytes(model, [0]);
        new ModelManifest
        {
            Name = "stride0",
            Kind = ModelManifest.AnomalyKind,
            InputName = "windows",
            InputWidth = 0,
            InputHeight = 0,
            InputLayout = "NTF",
            ChannelOrder = "BGR",
            InputElementType = "float32",
            OutputNames = ["score"],
            WindowLength = 4,
            WindowStride = 0,
            FeatureSize = 512,
            Anomaly = new AnomalyCalibration(0, 1, 1, 99, 10),
        }.Save(ModelManifest.PathFor(model));
        return model;
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
