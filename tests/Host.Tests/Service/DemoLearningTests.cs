using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests.Service;

/// <summary>
/// Out of the box: the shipped demo stream of <c>config/cameras.json</c>, run by the real <c>edge run</c> with no anomaly
/// model, learns its own, puts it in and raises an anomaly event where an injected object appears; no manual step.
/// </summary>
public sealed class DemoLearningTests : IDisposable
{
    // Where and when the injected object shows in the demo's looping footage (vtest.avi, 795 frames at 10 fps).
    private static readonly Rect s_square = new(480, 300, 110, 110);
    private const int PaintFrom = 460;
    private const int PaintTo = 700;
    private const double LearnMinutes = 0.6;

    private readonly string _work = TestData.NewTempFolder();

    [Fact]
    public async Task DemoStream_LearnsPutsItsModelInAndRaisesAnEventWhereTheInjectedObjectIs()
    {
        // The shipped demo stream: a looping file that learns (its LearnMinutes shortened here to keep the test short).
        var shipped = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestData.RepoRoot, "config", "cameras.json"))).RootElement;
        var demo = shipped.GetProperty("Service").GetProperty("Streams").EnumerateArray().Single(s => s.GetProperty("Id").GetString() == "demo");
        Assert.True(demo.GetProperty("Loop").GetBoolean());
        Assert.InRange(demo.GetProperty("LearnMinutes").GetDouble(), 0.5, 5);
        Assert.Equal("", shipped.GetProperty("Analysis").GetProperty("AnomalyModel").GetString());

        var video = Path.Combine(_work, "injected.avi");
        var frames = WriteInjected(video);
        var data = Path.Combine(_work, "data");
        var config = Path.Combine(_work, "edge.json");
        File.WriteAllText(config, JsonSerializer.Serialize(new
        {
            Models = new { Directory = Path.GetDirectoryName(TestData.FrameModel), FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 2 },
            Analysis = new { AnomalyModel = "", ActivityModel = "" },
            Logging = new { File = "" },
            Sources = new { FileRoots = new[] { _work } },
            Web = new { Enabled = false },
            Service = new
            {
                DataDirectory = data,
                Streams = new[] { new { Id = "demo", Source = video, Loop = true, LearnMinutes } },
            },
        }));

        using var process = EdgeProcess.Start(_work, "run", "--config", config);
        var log = new StringBuilder();
        process.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        string Log() { lock (log) { return log.ToString(); } }
        try
        {
            var events = Path.Combine(data, "events");
            JsonElement? located = null;
            var clock = Stopwatch.StartNew();
            while (located is null)
            {
                Assert.False(process.HasExited, $"edge run ended (exit {(process.HasExited ? process.ExitCode : 0)}):\n{Log()}");
                Assert.True(clock.Elapsed.TotalSeconds < 300, $"no anomaly event on the injected object in 5 minutes:\n{Log()}");
                await Task.Delay(500);
                // The looping file's frame indices count every frame of every pass (those skipped to keep its clock
                // too), so an index modulo the file's length is the frame of the file: the peak is a painted frame.
                located = AnomalyEvents(events).Where(e => e.GetProperty("peakFrame").GetInt64() % frames is >= PaintFrom and <= PaintTo
                    && e.TryGetProperty("region", out var r) && r.ValueKind == JsonValueKind.Array
                    && (Rect.FromLTRB(r[0].GetInt32(), r[1].GetInt32(), r[2].GetInt32(), r[3].GetInt32()) & s_square).Width > 0)
                    .Select(e => (JsonElement?)e).FirstOrDefault();
            }
            Assert.True(Log().Contains("demo: learned its anomaly model", StringComparison.Ordinal), $"event {located}\n{Log()}");
            var model = Assert.Single(Directory.GetFiles(Path.Combine(data, "models", "demo"), "anomaly-*.onnx"));
            Assert.True(File.Exists(Path.ChangeExtension(model, ".json")));
            Assert.DoesNotContain("faulted", Log(), StringComparison.Ordinal);
            Assert.True(File.Exists(Path.Combine(events, located.Value.GetProperty("snapshot").GetString()!)), "the event's snapshot is stored");
        }
        finally
        {
            if (!process.HasExited)
            {
                using var term = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                await term!.WaitForExitAsync();
                if (!process.WaitForExit(60_000))
                {
                    process.Kill(entireProcessTree: true);
                }
            }
        }
        Assert.Equal(0, process.ExitCode);
    }

    /// <summary>The anomaly events stored so far in the stream's daily JSON-lines files.</summary>
    private static List<JsonElement> AnomalyEvents(string folder) => !Directory.Exists(folder) ? [] :
        [.. Directory.GetFiles(folder, "demo.events-*.jsonl")
            .SelectMany(f => File.ReadAllLines(f))
            .Where(l => l.Length > 0)
            .Select(l => JsonDocument.Parse(l).RootElement)
            .Where(e => e.GetProperty("kind").GetString() == "anomaly")];

    /// <summary>vtest.avi with a magenta square painted on frames <see cref="PaintFrom"/> to <see cref="PaintTo"/>; returns its frame count.</summary>
    private static int WriteInjected(string path)
    {
        using var vtest = new VideoCapture(TestData.Vtest);
        using var writer = new VideoWriter(path, FourCC.MJPG, 10, new OpenCvSharp.Size(768, 576));
        using var frame = new Mat();
        var frames = 0;
        for (; vtest.Read(frame) && !frame.Empty(); frames++)
        {
            if (frames is >= PaintFrom and <= PaintTo)
            {
                Cv2.Rectangle(frame, s_square, new Scalar(255, 0, 255), -1);
            }
            writer.Write(frame);
        }
        return frames;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
