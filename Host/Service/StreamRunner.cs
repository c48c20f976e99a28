using System.Diagnostics;
using Edge.Capture;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Service;

/// <summary>
/// Runs one live stream of <c>edge run</c>: its capture (reconnecting), its own pipeline (frame pool, channels,
/// temporal state, event rules) and sinks, on the service's shared CNN and sequence models. Owns its pipeline, source,
/// object head and sinks; not the shared models or the event store.
/// </summary>
public sealed class StreamRunner : IAsyncDisposable
{
    private readonly StreamServiceContext _service;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly StreamStatusSink _status;
    private readonly string _anomalyModel;
    private readonly string _activityModel;
    private Task? _run;
    private volatile StreamAssembly? _stream;

    public StreamRunner(StreamDefinition definition, StreamServiceContext service, string anomalyModel, string activityModel)
    {
        Definition = definition;
        _service = service;
        _logger = service.Logs.CreateLogger("Edge.Stream");
        _status = new StreamStatusSink(service.Options.StatisticsWindow, definition.Id, service.Metrics);
        _anomalyModel = anomalyModel;
        _activityModel = activityModel;
        Redacted = Redaction.Redact(definition.Source);
    }

    public StreamDefinition Definition { get; }

    /// <summary>The source with any credentials removed: the only form that is logged or shown.</summary>
    public string Redacted { get; }

    public IReadOnlyList<float> AnomalyHistory => _status.AnomalyHistory();

    private long _startedTicks;

    /// <summary>Seconds since the stream started.</summary>
    public double ElapsedSeconds => _startedTicks == 0 ? 0 : Stopwatch.GetElapsedTime(_startedTicks).TotalSeconds;

    public void Start()
    {
        _startedTicks = Stopwatch.GetTimestamp();
        _run = Task.Run(() => RunAsync(_stop.Token));
    }

    private async Task RunAsync(CancellationToken stop)
    {
        var defaults = _service.Defaults;
        // A file that does not loop plays once at its own rate and the stream then stops; everything else is live
        // and reconnects.
        var once = !Definition.Loop && !FrameSources.IsUrl(Definition.Source) && !FrameSources.IsCamera(Definition.Source);
        // Per stream, batches are small and the queue short: batching happens across streams in the shared CNN,
        // and a short queue bounds a live frame's wait.
        var queue = _service.Options.LiveQueue;
        var spec = new StreamSpec
        {
            Source = Definition.Source,
            StreamId = Definition.Id,
            Mode = once ? SourceMode.FileAsLive : SourceMode.Live,
            Loop = Definition.Loop,
            Policy = defaults.Policy,
            Capture = CaptureFor(defaults.Capture, Definition.TargetFps),
            Reconnect = defaults.Reconnect,
            Pipeline = new PipelineOptions
            {
                BatchSize = Math.Min(defaults.Pipeline.BatchSize, queue),
                BatchTimeoutMs = defaults.Pipeline.BatchTimeoutMs,
                CaptureQueue = queue,
                ResultQueue = defaults.Pipeline.ResultQueue,
            },
            AnomalyModel = _anomalyModel,
            ActivityModel = _activityModel,
            Events = Definition.Events ?? defaults.Events,
            Outputs = new StreamOutputs
            {
                Events = new EventOutput(_service.EventsFolder, () => _service.Store, OwnsStore: false,
                    JsonLines: $"{Definition.Id}.events.jsonl", KeepEvents: false, OnStored: _status.CountEvent),
                Preview = _service.Preview,
                Extra = [_status],
            },
        };
        try
        {
            await using var stream = StreamAssembly.Build(spec, _service.Models, _service.Logs);
            _stream = stream;
            _logger.LogInformation("{Stream}: started on {Source}", Definition.Id, Redacted);
            var report = await stream.RunAsync(stop).ConfigureAwait(false);
            _logger.LogInformation("{Stream}: stopped after {Read} frames read, {Processed} processed, {Dropped} dropped, {Reconnects} reconnects",
                Definition.Id, report.FramesRead, report.FramesProcessed, report.FramesDropped, (stream.Source as ReconnectingSource)?.Status.Reconnects ?? 0);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            _logger.LogError("{Stream}: stopped by an error: {Error}", Definition.Id, ex.Message);
            throw;
        }
    }

    private static CaptureOptions CaptureFor(CaptureOptions shared, double targetFps) => new()
    {
        TargetFps = targetFps > 0 ? targetFps : shared.TargetFps,
        FrameStride = shared.FrameStride,
        MaxFrames = 0,
        ResizeWidth = shared.ResizeWidth,
        ResizeHeight = shared.ResizeHeight,
        MaxFramePixels = shared.MaxFramePixels,
        OpenTimeoutMs = shared.OpenTimeoutMs,
        ReadTimeoutMs = shared.ReadTimeoutMs,
        FolderFps = shared.FolderFps,
    };

    public StreamStatus Status()
    {
        var stream = _stream;
        var pipeline = stream?.Pipeline;
        var health = (stream?.Source as ReconnectingSource)?.Status;
        var state = _run is { IsCompleted: true } ? StreamState.Stopped
            : health is not null ? (StreamState)health.State
            : pipeline is not null ? StreamState.Running
            : StreamState.Connecting;
        var (p50, p99) = _status.AgePercentiles();
        return new StreamStatus(Definition.Id, Redacted, state,
            health?.LastError ?? (_run is { IsFaulted: true } failed ? failed.Exception?.InnerException?.Message : null),
            health?.LastFrameUtc, pipeline?.Capture.In ?? 0, _status.Frames, pipeline?.Capture.Dropped ?? 0,
            health?.Reconnects ?? 0, _status.Fps(), p50, p99, _status.Activity, _status.AnomalyScore, _status.Events);
    }

    /// <summary>Stops capture, lets the frames already read through, flushes the sinks.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        if (_run is not null)
        {
            try
            {
                await _run.ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // Logged where it happened.
            }
        }
        _stop.Dispose();
    }
}

/// <summary>
/// Keeps a stream's recent statistics for status and metrics: processed frames, fps and frame age (capture → here)
/// over the last N frames, the latest activity and anomaly score, a short anomaly history. Thread-safe reads.
/// </summary>
internal sealed class StreamStatusSink(int window, string streamId, Edge.Pipeline.Telemetry.EdgeInstruments? metrics) : IResultSink
{
    private const int HistoryLength = 300;
    private readonly object _gate = new();
    private readonly double[] _ages = new double[window];
    private readonly long[] _ticks = new long[window];
    private readonly float[] _history = new float[HistoryLength];
    private int _historyCount;
    private long _frames;
    private long _events;

    public bool NeedsPixels => false;

    public long Frames => Interlocked.Read(ref _frames);

    public string? Activity { get; private set; }

    public float? AnomalyScore { get; private set; }

    public long Events => Interlocked.Read(ref _events);

    public void CountEvent(Edge.Pipeline.Events.DetectedEvent detected)
    {
        Interlocked.Increment(ref _events);
        metrics?.CountEvent(streamId, detected.Kind);
    }

    public ValueTask WriteAsync(FrameResult result, CancellationToken ct)
    {
        var now = Stopwatch.GetTimestamp();
        var ageMs = Stopwatch.GetElapsedTime(result.CapturedTicks, now).TotalMilliseconds;
        lock (_gate)
        {
            var slot = (int)(_frames % _ages.Length);
            _ages[slot] = ageMs;
            _ticks[slot] = now;
            _frames++;
            Activity = result.Analysis?.Activity;
            AnomalyScore = result.Analysis?.AnomalyScore;
            if (AnomalyScore is { } score)
            {
                _history[_historyCount % HistoryLength] = score;
                _historyCount++;
            }
        }
        metrics?.RecordFrameAge(streamId, ageMs);
        return ValueTask.CompletedTask;
    }

    /// <summary>Frame age p50 and p99 over the window, in ms.</summary>
    public (double P50, double P99) AgePercentiles()
    {
        double[] ages;
        lock (_gate)
        {
            ages = _ages.AsSpan(0, (int)Math.Min(_frames, _ages.Length)).ToArray();
        }
        Array.Sort(ages);
        return (Statistics.Percentile(ages, 0.50), Statistics.Percentile(ages, 0.99));
    }

    /// <summary>Frames per second over the window (0 when fewer than two frames or the last is older than 5 s).</summary>
    public double Fps()
    {
        lock (_gate)
        {
            var count = (int)Math.Min(_frames, _ticks.Length);
            if (count < 2)
            {
                return 0;
            }
            var newest = _ticks[(int)((_frames - 1) % _ticks.Length)];
            var oldest = _ticks[(int)((_frames - count) % _ticks.Length)];
            if (Stopwatch.GetElapsedTime(newest).TotalSeconds > 5)
            {
                return 0;
            }
            var seconds = Stopwatch.GetElapsedTime(oldest, newest).TotalSeconds;
            return seconds > 0 ? (count - 1) / seconds : 0;
        }
    }

    public IReadOnlyList<float> AnomalyHistory()
    {
        lock (_gate)
        {
            var count = Math.Min(_historyCount, HistoryLength);
            var list = new float[count];
            for (var i = 0; i < count; i++)
            {
                list[i] = _history[(_historyCount - count + i) % HistoryLength];
            }
            return list;
        }
    }

    public ValueTask CompleteAsync(CancellationToken ct) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
