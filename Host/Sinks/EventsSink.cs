using System.Text.Json;
using Edge.Pipeline;
using Edge.Pipeline.Events;

namespace Edge.Host.Sinks;

/// <summary>
/// Turns each frame's analysis into anomaly and activity events (hysteresis, minimum duration, cooldown; per stream)
/// and writes them, as each event ends, to events.jsonl (one JSON object per event) and to the SQLite store events.db.
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
    private bool _disposed;

    public EventsSink(OutputDirectory output, EventRules rules)
    {
        _rules = rules;
        _idle = new HashSet<string>(rules.IdleActivities, StringComparer.Ordinal);
        _writer = new StreamWriter(output.StagingPath(EventsFile));
        _store = new SqliteEventStore(output.StagingPath(SqliteEventStore.FileName));
    }

    public bool NeedsPixels => false;

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
        await EmitAsync(detectors.Anomaly.Observe(result.TimestampMs, result.Index, "anomaly", analysis.AnomalyScore)).ConfigureAwait(false);
        var activity = analysis.Activity is { } label && !_idle.Contains(label) ? analysis.ActivityConfidence : null;
        await EmitAsync(detectors.Activity.Observe(result.TimestampMs, result.Index, analysis.Activity ?? "", activity)).ConfigureAwait(false);
    }

    private async ValueTask EmitAsync(DetectedEvent? detected)
    {
        if (detected is null)
        {
            return;
        }
        Events.Add(detected);
        _store.Add(detected);
        await _writer.WriteLineAsync(JsonSerializer.Serialize(detected, s_json)).ConfigureAwait(false);
    }

    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        foreach (var (anomaly, activity) in _detectors.Values)
        {
            await EmitAsync(anomaly.Flush()).ConfigureAwait(false);
            await EmitAsync(activity.Flush()).ConfigureAwait(false);
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
