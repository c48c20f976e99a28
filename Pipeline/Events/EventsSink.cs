using System.Text.Json;
using Edge.Pipeline.Delivery;
using Edge.Pipeline;
using Edge.Pipeline.Events;

namespace Edge.Pipeline.Events;

/// <summary>
/// Turns each frame's analysis into anomaly and activity events (hysteresis, minimum duration, cooldown; per stream)
/// and writes them, as each event ends, to events.jsonl (one JSON object per event) and to the SQLite store events.db
/// (with an outbox, queued for delivery in the same transaction), with a JPEG of each event's peak frame
/// (event-&lt;id&gt;.jpg) and a clip with pre- and post-roll (event-&lt;id&gt;.avi, <see cref="EventClips"/>). The peak
/// frame is encoded when it arrives (the pixels are released right after), so the sink holds one JPEG per open
/// episode, never frames. Files go into one folder: a run's staging folder for <c>edge process</c>, a stream's events
/// folder for the service. The sink owns its JSON-lines writer and, when asked to, the store.
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
    private readonly string _folder;
    private readonly bool _ownsStore;
    private readonly bool _keepEvents;
    private readonly Dictionary<HysteresisDetector, byte[]> _peakJpegs = [];
    private readonly Dictionary<string, EventClips> _clips = new(StringComparer.Ordinal);
    private readonly double _fps;
    private bool _disposed;

    /// <param name="folder">Where the JSON lines (appended), snapshots and clips are written.</param>
    /// <param name="store">The event store (with its outbox, if any); disposed with the sink when <paramref name="ownsStore"/>.</param>
    /// <param name="fps">Frame rate of the results, for the clips.</param>
    /// <param name="jsonLines">File name of the JSON lines in <paramref name="folder"/>.</param>
    /// <param name="keepEvents">Keep every event in <see cref="Events"/> (a run's summary); off for a service.</param>
    public EventsSink(string folder, SqliteEventStore store, EventRules rules, double fps, bool ownsStore,
        string jsonLines = EventsFile, bool keepEvents = true)
    {
        _fps = fps;
        _rules = rules;
        _folder = folder;
        _store = store;
        _ownsStore = ownsStore;
        _keepEvents = keepEvents;
        _idle = new HashSet<string>(rules.IdleActivities, StringComparer.Ordinal);
        _writer = new StreamWriter(Path.Combine(folder, jsonLines), append: true);
    }

    /// <summary>Raised on the sink's thread after each event is stored.</summary>
    public event Action<DetectedEvent>? EventStored;

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
            _clips[result.StreamId] = new EventClips(_folder, _rules.PreRollFrames, _rules.PostRollFrames, _fps);
        }
        var clips = _clips[result.StreamId];
        var analysis = result.Analysis ?? new FrameAnalysis();
        await EmitAsync(clips, detectors.Anomaly, detectors.Anomaly.Observe(result.TimestampMs, result.Index, "anomaly", analysis.AnomalyScore)).ConfigureAwait(false);
        var activity = analysis.Activity is { } label && !_idle.Contains(label) ? analysis.ActivityConfidence : null;
        await EmitAsync(clips, detectors.Activity, detectors.Activity.Observe(result.TimestampMs, result.Index, analysis.Activity ?? "", activity)).ConfigureAwait(false);
        clips.Add(result, [detectors.Anomaly, detectors.Activity]);
        KeepPeak(detectors.Anomaly, result);
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

    private async ValueTask EmitAsync(EventClips clips, HysteresisDetector detector, DetectedEvent? detected)
    {
        if (detected is null)
        {
            if (detector.OpenPeakFrame is null)
            {
                clips.Drop(detector); // an episode too short to be an event
            }
            return;
        }
        detected = detected with { Clip = clips.Finish(detector, detected) };
        if (_peakJpegs.Remove(detector, out var jpeg))
        {
            var name = $"event-{detected.Id}.jpg";
            await File.WriteAllBytesAsync(Path.Combine(_folder, name + ".tmp"), jpeg).ConfigureAwait(false);
            File.Move(Path.Combine(_folder, name + ".tmp"), Path.Combine(_folder, name), overwrite: true);
            detected = detected with { Snapshot = name };
        }
        if (_keepEvents)
        {
            Events.Add(detected);
        }
        _store.Add(detected);
        await _writer.WriteLineAsync(JsonSerializer.Serialize(detected, s_json)).ConfigureAwait(false);
        await _writer.FlushAsync().ConfigureAwait(false);
        EventStored?.Invoke(detected);
    }

    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        foreach (var (stream, (anomaly, activity)) in _detectors)
        {
            await EmitAsync(_clips[stream], anomaly, anomaly.Flush()).ConfigureAwait(false);
            await EmitAsync(_clips[stream], activity, activity.Flush()).ConfigureAwait(false);
        }
        await DisposeAsync().ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            await _writer.DisposeAsync().ConfigureAwait(false);
            if (_ownsStore)
            {
                _store.Dispose();
            }
            foreach (var clips in _clips.Values)
            {
                clips.Dispose();
            }
        }
    }
}
