using System.Diagnostics;
using System.Globalization;
using Edge.Host.Web;

namespace Edge.Host.Tests.Web;

/// <summary>/metrics over real HTTP, checked by Prometheus' own promtool and by the values of its series.</summary>
public sealed class MetricsTests : IAsyncLifetime
{
    private const string Promtool = "/usr/bin/promtool";
    private WebServer _server = null!;

    public async Task InitializeAsync() => _server = await WebServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private async Task<string> ScrapeAsync()
    {
        using var response = await _server.Client.GetAsync("/metrics");
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return await response.Content.ReadAsStringAsync();
    }

    private void Record()
    {
        foreach (var ms in new[] { 30.0, 80, 80, 400, 12_000 })
        {
            _server.Metrics.RecordFrameAge("cam1", ms);
        }
        _server.Metrics.RecordFrameAge("odd \"name\" \\ with\nnewline", 1);
        _server.Metrics.RecordInference(120, 8);
        _server.Metrics.RecordInference(20, 1);
        _server.Metrics.CountEvent("cam1", "anomaly");
        _server.Metrics.CountEvent("cam1", "anomaly");
        _server.Metrics.CountEvent("cam2", "activity");
    }

    [Fact]
    public async Task Metrics_Series_HaveTheRecordedValues()
    {
        Record();
        var lines = (await ScrapeAsync()).Split('\n').ToHashSet();
        string[] expected =
        [
            "# TYPE edge_stream_fps gauge",
            "edge_stream_fps{stream=\"cam1\"} 9.5",
            "edge_stream_fps{stream=\"cam2\"} 0",
            "edge_stream_up{stream=\"cam1\"} 1",
            "edge_stream_up{stream=\"cam2\"} 0",
            "edge_stream_state{stream=\"cam2\",state=\"backoff\"} 1",
            "edge_stream_state{stream=\"cam2\",state=\"running\"} 0",
            "# TYPE edge_stream_frames_read_total counter",
            "edge_stream_frames_read_total{stream=\"cam1\"} 1200",
            "edge_stream_frames_processed_total{stream=\"cam1\"} 1190",
            "edge_stream_frames_dropped_total{stream=\"cam1\"} 7",
            "edge_stream_reconnects_total{stream=\"cam2\"} 4",
            "edge_stream_anomaly_score{stream=\"cam1\"} 0.3700000047683716",
            "edge_events_total{stream=\"cam1\",kind=\"anomaly\"} 2",
            "edge_events_total{stream=\"cam2\",kind=\"activity\"} 1",
            "# TYPE edge_frame_age_seconds histogram",
            "edge_frame_age_seconds_bucket{stream=\"cam1\",le=\"0.05\"} 1",
            "edge_frame_age_seconds_bucket{stream=\"cam1\",le=\"0.1\"} 3",
            "edge_frame_age_seconds_bucket{stream=\"cam1\",le=\"0.5\"} 4",
            "edge_frame_age_seconds_bucket{stream=\"cam1\",le=\"10\"} 4",
            "edge_frame_age_seconds_bucket{stream=\"cam1\",le=\"+Inf\"} 5",
            "edge_frame_age_seconds_count{stream=\"cam1\"} 5",
            "edge_frame_age_seconds_count{stream=\"odd \\\"name\\\" \\\\ with\\nnewline\"} 1",
            "edge_inference_seconds_bucket{le=\"0.025\"} 1",
            "edge_inference_seconds_bucket{le=\"0.25\"} 2",
            "edge_inference_seconds_count 2",
            "edge_inference_batch_frames_bucket{le=\"1\"} 1",
            "edge_inference_batch_frames_bucket{le=\"4\"} 1",
            "edge_inference_batch_frames_bucket{le=\"8\"} 2",
            "edge_inference_batch_frames_sum 9",
        ];
        Assert.All(expected, line => Assert.Contains(line, lines));
        Assert.Equal(12.59, Sample(lines, "edge_frame_age_seconds_sum{stream=\"cam1\"}"), 9);
        Assert.Equal(0.14, Sample(lines, "edge_inference_seconds_sum"), 9);
        // No stream has no anomaly score: no sample rather than a made-up 0.
        Assert.DoesNotContain(lines, l => l.StartsWith("edge_stream_anomaly_score{stream=\"cam2\"}", StringComparison.Ordinal));
    }

    [SkippableFact]
    public async Task Metrics_Text_PassesPromtoolCheck()
    {
        Skip.IfNot(File.Exists(Promtool), $"{Promtool} is missing: install Debian's prometheus package (scripts/setup.sh does)");
        var before = await ScrapeAsync(); // families with no samples yet
        Record();
        var after = await ScrapeAsync();
        foreach (var text in new[] { before, after })
        {
            var info = new ProcessStartInfo(Promtool, ["check", "metrics"])
            {
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            using var promtool = Process.Start(info)!;
            await promtool.StandardInput.WriteAsync(text);
            promtool.StandardInput.Close();
            var stdout = promtool.StandardOutput.ReadToEndAsync();
            var stderr = promtool.StandardError.ReadToEndAsync();
            await promtool.WaitForExitAsync();
            Assert.True(promtool.ExitCode == 0, $"promtool: {await stdout}{await stderr}\n{text}");
        }
    }

    [Fact]
    public void Metrics_ConcurrentRecording_LosesNoObservation()
    {
        var metrics = new EdgeMetrics();
        Parallel.For(0, 8, _ =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                metrics.RecordFrameAge("s", 100);
                metrics.CountEvent("s", "anomaly");
            }
        });
        var lines = metrics.Render([]).Split('\n');
        Assert.Contains("edge_frame_age_seconds_count{stream=\"s\"} 80000", lines);
        Assert.Contains("edge_events_total{stream=\"s\",kind=\"anomaly\"} 80000", lines);
        Assert.Equal(8000, Sample(lines, "edge_frame_age_seconds_sum{stream=\"s\"}"), 6);
    }

    private static double Sample(IEnumerable<string> lines, string series) =>
        double.Parse(lines.Single(l => l.StartsWith(series + " ", StringComparison.Ordinal))[(series.Length + 1)..], CultureInfo.InvariantCulture);
}
