using System.Globalization;
using System.Text.Json;
using Edge.Pipeline.Delivery;
using Edge.Pipeline;
using Edge.Pipeline.Events;

namespace Edge.Pipeline.Events;

/// <summary>
/// Turns each frame's analysis into anomaly and activity events (hysteresis, minimum and maximum duration, cooldown;
/// per stream) and writes them to events.jsonl (one JSON object per event) and to the SQLite store events.db (with an
/// outbox, queued for delivery in the same transaction), with a JPEG of each event's peak frame (event-&lt;id&gt;.jpg)
/// and a clip with pre- and post-roll (event-&lt;id&gt;.avi, <see cref="EventClips"/>). An event is stored when its
/// clip is whole, i.e. after its post-roll (or at once without pixels), so whatever the store and the delivery say
/// exists is complete; an event still waiting for its post-roll when the stream stops is stored with the clip it has.
/// The peak frame is encoded when it arrives (the pixels are released right after), so the sink holds one JPEG per
/// open episode, never frames. Files go into one folder: a run's staging folder for <c>edge process</c>, a stream's
/// events folder for the service, where the JSON lines are split into one file per UTC day so that retention can
/// delete old days whole (a daily file is opened at its first event). The sink owns its JSON-lines writer and,
/// when asked to, the store.
/// </summary>
public sealed class EventsSink : IResultSink
{
    public const string EventsFile = "events.jsonl";

    /// <summary>The date format of daily JSON-lines files: <c>name-yyyyMMdd.jsonl</c>.</summary>
    public const string DayFormat = "yyyyMMdd";

    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
    private readonly EventRules _rules;
    private readonly SqliteEventStore _store;
    private readonly Dictionary<string, (HysteresisDetector Anomaly, HysteresisDetector Activity)> _detectors = new(StringComparer.Ordinal);
    private readonly HashSet<string> _idle;
    private readonly string _folder;
    private readonly string _jsonLines;
    private readonly bool _daily;
    private readonly bool _ownsStore;
    private readonly bool _keepEvents;
    private readonly Dictionary<HysteresisDetector, PeakFrame> _peaks = [];
    private readonly Dictionary<HysteresisDetector, EpisodeCells> _episodes = [];

    /// <summary>
    /// The open anomaly episode's cells: in how many of its frames each cell was at or above 1.0 (the p99 of normal
    /// cells). An event's region is where its anomaly stayed, not the hottest place of one frame: a passer-by new to
    /// the model can be hotter than a left object in the peak frame, but not in most of the event's frames.
    /// </summary>
    private sealed class EpisodeCells
    {
        /// <summary>Frames in which a cell must be hot, as a share of the episode's, to be part of the region.</summary>
        public const float Persistent = 0.5f;

        /// <summary>Fewer counted frames than this say nothing about persistence: the peak frame's region stands.</summary>
        public const int MinimumFrames = 3;

        public int[] Hot { get; set; } = [];

        public int Frames { get; set; }

        public (int Rows, int Columns, int Width, int Height) Shape { get; set; }

        /// <summary>The connected cells hot in at least half the episode's frames, around the most persistent, in frame pixels; or null.</summary>
        public int[]? Region()
        {
            if (Frames < MinimumFrames)
            {
                return null;
            }
            var share = Hot.Select(h => h / (float)Frames).ToArray();
            return Edge.Models.AnomalyMap.Region(share, Shape.Rows, Shape.Columns, Shape.Width, Shape.Height, threshold: Persistent) is { } r
                ? [r.Left, r.Top, r.Right, r.Bottom] : null;
        }
    }

    /// <summary>
    /// The open episode's peak frame so far: a copy of its pixels in a buffer reused from peak to peak, and its cell
    /// map; encoded once, when the episode becomes an event, not on every new peak (a rising score makes most of an
    /// episode's first frames peaks, and a full-size JPEG costs several milliseconds).
    /// </summary>
    private sealed class PeakFrame : IDisposable
    {
        public OpenCvSharp.Mat Image { get; } = new();

        public bool Set { get; set; }

        public float[]? Cells { get; set; }

        public int Rows { get; set; }

        public int Columns { get; set; }

        public int[]? Region { get; set; }

        public void Dispose() => Image.Dispose();
    }
    private readonly Dictionary<string, EventClips> _clips = new(StringComparer.Ordinal);
    private readonly double _fps;
    private StreamWriter? _writer;
    private string? _writerPath;
    private bool _disposed;

    /// <param name="folder">Where the JSON lines (appended), snapshots and clips are written.</param>
    /// <param name="store">The event store (with its outbox, if any); disposed with the sink when <paramref name="ownsStore"/>.</param>
    /// <param name="fps">Frame rate of the results, for the clips.</param>
    /// <param name="jsonLines">File name of the JSON lines in <paramref name="folder"/>.</param>
    /// <param name="keepEvents">Keep every event in <see cref="Events"/> (a run's summary); off for a service.</param>
    /// <param name="dailyJsonLines">One JSON-lines file per UTC day (<c>name-yyyyMMdd.jsonl</c>), for a service.</param>
    public EventsSink(string folder, SqliteEventStore store, EventRules rules, double fps, bool ownsStore,
        string jsonLines = EventsFile, bool keepEvents = true, bool dailyJsonLines = false)
    {
        _fps = fps;
        _rules = rules;
        _folder = folder;
        _store = store;
        _ownsStore = ownsStore;
        _keepEvents = keepEvents;
        _jsonLines = jsonLines;
        _daily = dailyJsonLines;
        _idle = new HashSet<string>(rules.IdleActivities, StringComparer.Ordinal);
        // A folder that is not there (or cannot be made) is a set-up failure of the stream, not a late one.
        Directory.CreateDirectory(folder);
        if (!_daily)
        {
            // A run's events.jsonl exists, empty, even when the run found no event.
            WriterFor(DateTime.UtcNow);
        }
    }

    /// <summary>Raised on the sink's thread after each event is stored.</summary>
    public event Action<DetectedEvent>? EventStored;

    public bool NeedsPixels => true;

    public List<DetectedEvent> Events { get; } = [];

    /// <summary>The JSON-lines file name of <paramref name="jsonLines"/> for a day: <c>name-yyyyMMdd.jsonl</c>.</summary>
    public static string DailyName(string jsonLines, DateTime utc) =>
        $"{Path.GetFileNameWithoutExtension(jsonLines)}-{utc.ToString(DayFormat, CultureInfo.InvariantCulture)}{Path.GetExtension(jsonLines)}";

    public async ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        if (!_detectors.TryGetValue(result.StreamId, out var detectors))
        {
            detectors = (
                new HysteresisDetector(result.StreamId, DetectedEvent.AnomalyKind, _rules.AnomalyEnter, _rules.AnomalyExit, _rules.MinDurationMs, _rules.CooldownMs, _rules.MaxDurationMs),
                new HysteresisDetector(result.StreamId, DetectedEvent.ActivityKind, _rules.ActivityEnter, _rules.ActivityExit, _rules.MinDurationMs, _rules.CooldownMs, _rules.MaxDurationMs));
            _detectors[result.StreamId] = detectors;
            _clips[result.StreamId] = new EventClips(_folder, _rules.PreRollFrames, _rules.PostRollFrames, _fps);
        }
        var clips = _clips[result.StreamId];
        var analysis = result.Analysis ?? new FrameAnalysis();
        await EmitAsync(clips, detectors.Anomaly, detectors.Anomaly.Observe(result.TimestampMs, result.Index, "anomaly", analysis.AnomalyScore)).ConfigureAwait(false);
        var activity = analysis.Activity is { } label && !_idle.Contains(label) ? analysis.ActivityConfidence : null;
        await EmitAsync(clips, detectors.Activity, detectors.Activity.Observe(result.TimestampMs, result.Index, analysis.Activity ?? "", activity)).ConfigureAwait(false);
        foreach (var finished in clips.Add(result, [detectors.Anomaly, detectors.Activity]))
        {
            await StoreAsync(finished).ConfigureAwait(false);
        }
        CountCells(detectors.Anomaly, result);
        KeepPeak(detectors.Anomaly, result);
        KeepPeak(detectors.Activity, result);
        foreach (var zone in result.ZoneEvents)
        {
            await StoreZoneEventAsync(result, zone).ConfigureAwait(false);
        }
        foreach (var started in result.TrackActivityEvents)
        {
            await StoreInstantAsync(result, DetectedEvent.ActivityKind, started.Label, started.TimestampMs, started.TimestampMs,
                started.FrameIndex, started.Confidence, started.TrackId, started.Box).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A zone event is an instant: stored at once with a snapshot of its frame and the track's box as its region (an
    /// exit or a loiter starts when the track entered); no clip.
    /// </summary>
    private ValueTask StoreZoneEventAsync(FrameResult result, Zones.ZoneEvent zone)
    {
        var box = result.Tracks.FirstOrDefault(t => t.Id == zone.TrackId)?.Box;
        var start = zone.DwellMs is { } dwell ? zone.TimestampMs - dwell : zone.TimestampMs;
        return StoreInstantAsync(result, DetectedEvent.ZoneKind, Zones.ZoneEventNames.Label(zone), start, zone.TimestampMs, zone.FrameIndex, 1, zone.TrackId, box);
    }

    /// <summary>An event about one track at one frame (a zone event, a track's activity): stored at once with a snapshot of the frame; no clip.</summary>
    private async ValueTask StoreInstantAsync(FrameResult result, string kind, string label, double startMs, double timestampMs,
        long frameIndex, double score, long track, Tracking.BoxXyxy? box)
    {
        var detected = new DetectedEvent(Guid.NewGuid().ToString("N"), result.StreamId, kind, label,
            startMs, timestampMs, frameIndex, frameIndex, score, frameIndex)
        {
            Track = track,
            Region = box is { } b ? b.ToIntArray() : null,
        };
        if (result.Pixels is { } pixels)
        {
            var name = $"event-{detected.Id}.jpg";
            OpenCvSharp.Cv2.ImEncode(".jpg", pixels.Image, out var jpeg, new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 90));
            await File.WriteAllBytesAsync(Path.Combine(_folder, name + ".tmp"), jpeg).ConfigureAwait(false);
            File.Move(Path.Combine(_folder, name + ".tmp"), Path.Combine(_folder, name), overwrite: true);
            detected = detected with { Snapshot = name };
        }
        await StoreAsync(detected).ConfigureAwait(false);
    }

    /// <summary>Counts this frame's hot cells into the open anomaly episode's (<see cref="EpisodeCells"/>); none open, starts afresh.</summary>
    private void CountCells(HysteresisDetector detector, FrameResult result)
    {
        if (!_episodes.TryGetValue(detector, out var episode))
        {
            _episodes[detector] = episode = new EpisodeCells();
        }
        if (detector.OpenPeakFrame is null)
        {
            episode.Frames = 0;
            return;
        }
        if (result.Analysis is not { AnomalyCells: { } cells, CellRows: > 0 } analysis || result.Width <= 0)
        {
            return;
        }
        if (episode.Frames == 0 || episode.Hot.Length != cells.Length)
        {
            episode.Hot = new int[cells.Length];
            episode.Frames = 0;
            episode.Shape = (analysis.CellRows, analysis.CellColumns, result.Width, result.Height);
        }
        for (var c = 0; c < cells.Length; c++)
        {
            if (cells[c] >= 1f)
            {
                episode.Hot[c]++;
            }
        }
        episode.Frames++;
    }

    /// <summary>When this frame is the open episode's new peak, keeps a copy of it (and, for an anomaly, its cell map and region).</summary>
    private void KeepPeak(HysteresisDetector detector, FrameResult result)
    {
        if (detector.OpenPeakFrame != result.Index || result.Pixels is not { } pixels)
        {
            return;
        }
        if (!_peaks.TryGetValue(detector, out var peak))
        {
            _peaks[detector] = peak = new PeakFrame();
        }
        pixels.Image.CopyTo(peak.Image);
        peak.Set = true;
        var map = detector.Kind == DetectedEvent.AnomalyKind && result.Analysis is { AnomalyCells: { } cells, CellRows: > 0 } analysis ? analysis : null;
        peak.Cells = map?.AnomalyCells;
        (peak.Rows, peak.Columns) = (map?.CellRows ?? 0, map?.CellColumns ?? 0);
        peak.Region = map is not null && result.AnomalyRegion is { } r ? [r.Left, r.Top, r.Right, r.Bottom] : null;
    }

    /// <summary>The peak frame as the event's snapshot: JPEG, with an anomaly's cell map drawn over it (on the sink's own copy).</summary>
    private static byte[] EncodePeak(PeakFrame peak)
    {
        if (peak.Cells is { } cells)
        {
            Edge.Models.AnomalyMap.Overlay(peak.Image, cells, peak.Rows, peak.Columns);
        }
        OpenCvSharp.Cv2.ImEncode(".jpg", peak.Image, out var jpeg, new OpenCvSharp.ImageEncodingParam(OpenCvSharp.ImwriteFlags.JpegQuality, 90));
        return jpeg;
    }

    /// <summary>An episode closed: its snapshot is written; the event is stored now or, with a clip, after its post-roll.</summary>
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
        if (_peaks.TryGetValue(detector, out var peak) && peak.Set)
        {
            peak.Set = false;
            var name = $"event-{detected.Id}.jpg";
            await File.WriteAllBytesAsync(Path.Combine(_folder, name + ".tmp"), EncodePeak(peak)).ConfigureAwait(false);
            File.Move(Path.Combine(_folder, name + ".tmp"), Path.Combine(_folder, name), overwrite: true);
            detected = detected with { Snapshot = name, Region = peak.Region };
        }
        if (_episodes.TryGetValue(detector, out var episode) && episode.Region() is { } lasting)
        {
            detected = detected with { Region = lasting };
        }
        if (clips.Finish(detector, detected, out var completedNow) is null)
        {
            await StoreAsync(detected).ConfigureAwait(false);
        }
        else if (completedNow is not null)
        {
            await StoreAsync(completedNow).ConfigureAwait(false);
        }
    }

    private async ValueTask StoreAsync(DetectedEvent detected)
    {
        if (_keepEvents)
        {
            Events.Add(detected);
        }
        _store.Add(detected);
        var writer = WriterFor(DateTime.UtcNow);
        await writer.WriteLineAsync(JsonSerializer.Serialize(detected, s_json)).ConfigureAwait(false);
        await writer.FlushAsync().ConfigureAwait(false);
        EventStored?.Invoke(detected);
    }

    /// <summary>The JSON-lines writer for today (a daily file changes at midnight UTC), opened on first use.</summary>
    private StreamWriter WriterFor(DateTime utc)
    {
        var path = Path.Combine(_folder, _daily ? DailyName(_jsonLines, utc) : _jsonLines);
        if (_writer is null || _writerPath != path)
        {
            _writer?.Dispose();
            _writer = new StreamWriter(path, append: true);
            _writerPath = path;
        }
        return _writer;
    }

    public async ValueTask CompleteAsync(CancellationToken ct)
    {
        foreach (var (stream, (anomaly, activity)) in _detectors)
        {
            await EmitAsync(_clips[stream], anomaly, anomaly.Flush()).ConfigureAwait(false);
            await EmitAsync(_clips[stream], activity, activity.Flush()).ConfigureAwait(false);
        }
        await StoreFinishingAsync().ConfigureAwait(false);
        await DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Events whose clips still wait for post-roll are stored with the clip they have.</summary>
    private async ValueTask StoreFinishingAsync()
    {
        foreach (var clips in _clips.Values)
        {
            foreach (var finished in clips.CompleteAll())
            {
                await StoreAsync(finished).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Releases the sink. After a failure elsewhere in the pipeline (no <see cref="CompleteAsync"/>), events already
    /// ended are still stored with the clip they have; episodes still open are lost, as they would be at a crash.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (!_disposed)
        {
            _disposed = true;
            try
            {
                await StoreFinishingAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException)
            {
                // The stream is failing already (often for this very reason: a full disk, a store that went away);
                // its staging files are removed below or at the next start.
            }
            if (_writer is not null)
            {
                await _writer.DisposeAsync().ConfigureAwait(false);
            }
            if (_ownsStore)
            {
                _store.Dispose();
            }
            foreach (var clips in _clips.Values)
            {
                clips.Dispose();
            }
            foreach (var peak in _peaks.Values)
            {
                peak.Dispose();
            }
        }
    }
}
