using System.Text.Json;
using Edge.Pipeline;
using Edge.Pipeline.Events;

namespace Edge.Host.Sinks;

/// <summary>
/// Turns each frame's analysis into anomaly and activity events (hysteresis, minimum duration, cooldown; per stream)
/// and writes them, as each event ends, to events.jsonl (one JSON object per event) and to the SQLite store events.db,
/// with a JPEG of each event's peak frame (event-&lt;id&gt;.jpg). The peak frame is encoded when it arrives (the
/// pixels are released right after), so the sink holds one JPEG per open episode, never frames.
/// </summary>
public sealed class EventsSink : IResultSink
{
    public const string EventsFile = "events.jsonl";

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly EventRules _rules;
    private readonly StreamWriter _writer;
    private readonly SqliteEventStore _store;
    private readonly Dictionary<string, (HysteresisDetector Anomaly, HysteresisDetector Activity)> _detectors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _idle;
    private readonly OutputDirectory _output;
    private readonly Dictionary<HysteresisDetector, byte[]> _peakJpegs = [];
    private bool _disposed;

    public EventsSink(OutputDirectory output, EventRules rules)
    {
        _rules = rules;
        _output = output;
        _idle = new HashSet<string>(rules.IdleActivities, StringComparer.Ordinal);
        _writer = new StreamWriter(output.StagingPath(EventsFile));
        _store = new SqliteEventStore(output.StagingPath(SqliteEventStore.FileName));
    }

    public bool NeedsPixels => true;

    public List<DetectedEvent> Events { get; } = [];

    public async ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        if (!_detectors.TryGetValue(result.StreamId, out var detectors))
        {
            detectors = (
                new HysteresisDetector(result.StreamId, DetectedEvent.AnomalyKind, _rules.AnomalyEnter, _rules.AnomalyExit, _rules.MinDurationMs, _rules.CooldownMs),
                new HysteresisDetector(result.StreamId, DetectedEvent.ActivityKind, _rules.ActivityEnter, _rules.ActivityExit, _rules.MinDurationMs, _rules.CooldownMs));
            _detectors[result.StreamId] = detectors;
        }
        var analysis = result.Analysis ?? new FrameAnalysis();
        await EmitAsync(detectors.Anomaly, detectors.Anomaly.Observe(result.TimestampMs, result.Index, "anomaly", analysis.AnomalyScore)).ConfigureAwait(false);
        KeepPeak(detectors.Anomaly, result);
        var activity = analysis.Activity is { } label && !_idle.Contains(label) ? analysis.ActivityConfidence : null;
        await EmitAsync(detectors.Activity, detectors.Activity.Observe(result.TimestampMs, result.Index, analysis.Activity ?? "", activity)).ConfigureAwait(false);
        KeepPeak(detectors.Activity, result);
    }

    /// <summary>When this frame is the open episode's new peak, keeps it as JPEG.</summary>
    private void KeepPeak(HysteresisDetector detector, FrameResult result)
    {
        if (detector.OpenPeakFrame == result.Index && result.Pixels is { } pixels)
        {
            OpenCvSharp.Cv2.ImEncode(".jpg", pixels.Image, out var jpeg, new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 90));
            _peakJpegs[detector] = jpeg;
        }
    }

    private async ValueTask EmitAsync(HysteresisDetector detector, DetectedEvent? detected)
    {
        if (detected is null)
        {
            return;
        }
        if (_peakJpegs.Remove(detector, out var jpeg))
        {
            var name = $"event-{detected.Id}.jpg";
            await File.WriteAllBytesAsync(_output.StagingPath(name), jpeg).ConfigureAwait(false);
            detected = detected with { Snapshot = name };
        }
        Events.Add(detected);
        _store.Add(detected);
        await _writer.WriteLineAsync(JsonSerializer.Serialize(detected, s_json)).ConfigureAwait(false);
    }

    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        foreach (var (anomaly, activity) in _detectors.Values)
        {
            await EmitAsync(anomaly, anomaly.Flush()).ConfigureAwait(false);
            await EmitAsync(activity, activity.Flush()).ConfigureAwait(false);
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _writer.DisposeAsync().ConfigureAwait(false);
            _store.Dispose();
        }
    }
}
