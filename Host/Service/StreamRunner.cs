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
/// Runs one live stream of <c>edge run</c> under supervision: its set-up (<see cref="StreamAssembly.Build"/>: source,
/// frame pool, pipeline, temporal state, event rules, object stage, sinks, on the service's shared models) and its run.
/// When either throws, the stream shows <see cref="StreamState.Faulted"/> with the reason, waits (full-jitter backoff
/// from <see cref="ServiceOptions.RestartBackoffMs"/>, reset once a run has delivered frames for
/// <see cref="Edge.Capture.ReconnectOptions.StableAfterMs"/>) and is built and started again; the fault shows until the
/// new run processes a frame. A source that fails inside a run reconnects by itself (Backoff); only the end of a file
/// without loop ends the stream (Stopped). Owns the stream it builds (pipeline, source, object head, sinks) and its
/// status sink; not the shared models or the event store.
/// </summary>
public sealed class StreamRunner : IAsyncDisposable
{
    private readonly StreamServiceContext _service;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly StreamStatusSink _status;
    private readonly Lock _lock = new();
    private readonly RateMeter _offered = new();
    private readonly SiteLearning? _learning;
    private Task? _run;
    private StreamAssembly? _stream;
    private StreamAssembly? _prepared;

    /// <summary>The zone and line counters of the run that ended last, shown while no run is on (a file that played through).</summary>
    private Edge.Pipeline.Zones.ZoneCounters? _lastZones;
    private long _startedTicks;
    private long _runStartedTicks;
    // Totals of the runs that ended (after faults), so the counters of a restarted stream go on rising.
    private long _readBefore;
    private long _droppedBefore;
    private long _reconnectsBefore;
    private long _faults;
    private string? _fault;
    private long _framesAtFault;
    private double _sourceFps;
    private CancellationTokenSource? _restart;
    private string? _modelNote;

    public StreamRunner(StreamDefinition definition, StreamServiceContext service, string anomalyModel, string activityModel)
    {
        Definition = definition;
        _service = service;
        _logger = service.Logs.CreateLogger("Edge.Stream");
        _status = new StreamStatusSink(service.Options.StatisticsWindow, definition.Id, service.Metrics);
        Redacted = Redaction.Redact(definition.Source);
        // A stream with no anomaly model learns its own when learning is on and the frame model gives a grid.
        var minutes = definition.LearnMinutes ?? service.Options.LearnMinutes;
        if (string.IsNullOrWhiteSpace(anomalyModel) && minutes > 0 && service.Models.FrameModel.Grid is { } grid)
        {
            _learning = new SiteLearning(definition.Id, service.Options.DataDirectory, minutes, service.Options.LearnMaxDiskMb * 1024L * 1024,
                service.Models.FrameModel.EmbeddingSize, grid, service.Models.FrameModelPath, _logger);
            _learning.Learned += PutIn;
            anomalyModel = _learning.Current ?? "";
        }
        Spec = SpecFor(definition, service, anomalyModel, activityModel, _status, _learning);
    }

    public StreamDefinition Definition { get; }

    /// <summary>What the stream is built from, every time it is (re)started; a learned model replaces its anomaly model.</summary>
    public StreamSpec Spec { get; private set; }

    /// <summary>Starts learning the stream's anomaly model again from new footage (the REST API). False when the stream does not learn or is fitting a model now.</summary>
    public bool Relearn() => _learning?.Relearn() ?? false;

    /// <summary>Whether the stream learns its own anomaly model.</summary>
    public bool Learns => _learning is not null;

    /// <summary>The anomaly model file the stream was configured with (the service reloads it when it changes); empty when it learns its own or has none.</summary>
    public string ConfiguredAnomalyModel => _learning is null ? Spec.AnomalyModel : "";

    /// <summary>A model just learned: used by every later build of the stream, and put into the running one without a gap.</summary>
    private void PutIn(string modelPath)
    {
        IWindowModel? model;
        try
        {
            model = _service.Models.SequenceModel(modelPath, "anomaly");
        }
        catch (ModelException ex)
        {
            _logger.LogWarning("{Stream}: the learned model {Model} cannot be used, the stream goes on as it was: {Error}", Definition.Id, modelPath, ex.Message);
            return;
        }
        string previous;
        lock (_lock)
        {
            previous = Spec.AnomalyModel;
            Spec = Spec with { AnomalyModel = modelPath };
        }
        if (model is not null)
        {
            ReplaceAnomalyModel(model);
        }
        if (previous.Length > 0 && previous != modelPath)
        {
            _service.Models.Retire(previous, "anomaly");
        }
    }

    /// <summary>
    /// Puts <paramref name="model"/> (the catalog's newest for this stream's anomaly model) into the running stream:
    /// without a gap when its temporal stage can take it, otherwise (no temporal stage yet, or a model that reads the
    /// grid the running build does not keep) by building the stream again.
    /// </summary>
    public void ReplaceAnomalyModel(IWindowModel model)
    {
        lock (_lock)
        {
            if (_stream?.Temporal is { } temporal)
            {
                try
                {
                    temporal.ReplaceAnomaly(model);
                    return;
                }
                catch (InvalidOperationException)
                {
                    // The running build keeps no grids: the next one does.
                }
            }
            if (_stream is null)
            {
                return; // being (re)built: the build takes the catalog's newest model
            }
            _logger.LogInformation("{Stream}: building the stream again to put its new anomaly model in", Definition.Id);
            _restart?.Cancel();
        }
    }

    /// <summary>What became of the configured model file's last change, for the status (null before any change).</summary>
    public void NoteModel(string note) => Volatile.Write(ref _modelNote, note);

    /// <summary>The source with any credentials removed: the only form that is logged or shown.</summary>
    public string Redacted { get; }

    public IReadOnlyList<float> AnomalyHistory => _status.AnomalyHistory();

    /// <summary>Seconds since the stream started.</summary>
    public double ElapsedSeconds => _startedTicks == 0 ? 0 : Stopwatch.GetElapsedTime(_startedTicks).TotalSeconds;

    /// <summary>
    /// Builds the stream now, outside supervision, so that a caller can refuse a definition whose set-up fails
    /// (a reload, the REST API) before anything else changes; <see cref="Start"/> then runs what was built. Throws
    /// what the set-up throws.
    /// </summary>
    public void Prepare()
    {
        _prepared = StreamAssembly.Build(Spec, _service.Models, _service.Logs);
    }

    public void Start()
    {
        _startedTicks = Stopwatch.GetTimestamp();
        _run = Task.Run(() => SuperviseAsync(_stop.Token));
    }

    private static StreamSpec SpecFor(StreamDefinition definition, StreamServiceContext service, string anomalyModel, string activityModel,
        StreamStatusSink status, SiteLearning? learning)
    {
        var defaults = service.Defaults;
        // A file that does not loop plays once at its own rate and the stream then stops; everything else is live
        // and reconnects.
        var once = !definition.Loop && !FrameSources.IsUrl(definition.Source) && !FrameSources.IsCamera(definition.Source);
        // Per stream, batches are small and the queue short: batching happens across streams in the shared CNN,
        // and a short queue bounds a live frame's wait.
        var queue = service.Options.LiveQueue;
        return new StreamSpec
        {
            Source = definition.Source,
            StreamId = definition.Id,
            Mode = once ? SourceMode.FileAsLive : SourceMode.Live,
            Loop = definition.Loop,
            Policy = defaults.Policy,
            Capture = CaptureFor(defaults.Capture, definition.TargetFps),
            Reconnect = defaults.Reconnect,
            Pipeline = new PipelineOptions
            {
                BatchSize = Math.Min(defaults.Pipeline.BatchSize, queue),
                BatchTimeoutMs = defaults.Pipeline.BatchTimeoutMs,
                CaptureQueue = queue,
                ResultQueue = defaults.Pipeline.ResultQueue,
            },
            AnomalyModel = anomalyModel,
            LearnsAnomaly = learning is not null,
            ActivityModel = activityModel,
            Events = definition.Events ?? defaults.Events,
            Tracking = defaults.Tracking,
            Zones = definition.Zones ?? defaults.Zones,
            Outputs = new StreamOutputs
            {
                Events = new EventOutput(service.EventsFolder, () => service.Store, OwnsStore: false,
                    JsonLines: $"{definition.Id}.events.jsonl", KeepEvents: false, OnStored: status.CountEvent, DailyJsonLines: true),
                Preview = service.Preview,
                Extra = learning is null ? [status] : [status, learning],
            },
        };
    }

    private async Task SuperviseAsync(CancellationToken stop)
    {
        var backoff = new Backoff(_service.Options.RestartBackoffMs, _service.Options.MaxRestartBackoffMs);
        while (!stop.IsCancellationRequested)
        {
            var stream = Interlocked.Exchange(ref _prepared, null);
            Exception? failure = null;
            var stable = false;
            using var run = CancellationTokenSource.CreateLinkedTokenSource(stop);
            try
            {
                if (stream is null)
                {
                    _logger.LogDebug("{Stream}: setting up", Definition.Id);
                    stream = StreamAssembly.Build(Spec, _service.Models, _service.Logs);
                }
                lock (_lock)
                {
                    _stream = stream;
                    _restart = run;
                    _runStartedTicks = Stopwatch.GetTimestamp();
                }
                _logger.LogInformation("{Stream}: started on {Source}", Definition.Id, Redacted);
                await stream.RunAsync(run.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (run.IsCancellationRequested)
            {
            }
            catch (Exception ex)
            {
                failure = ex;
                stable = stream is not null && RanStably();
            }
            if (stream is not null)
            {
                try
                {
                    await EndRunAsync(stream).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // Releasing a failed run must not end the supervision of the stream.
                    _logger.LogWarning("{Stream}: releasing the stopped run failed: {Error}", Definition.Id, ex.Message);
                }
            }
            lock (_lock)
            {
                _restart = null;
            }
            if (failure is null && run.IsCancellationRequested && !stop.IsCancellationRequested)
            {
                continue; // built again on purpose (ReplaceAnomalyModel)
            }
            if (failure is null)
            {
                if (stream is not null)
                {
                    var (read, processed, dropped, reconnects) = Totals();
                    _logger.LogInformation("{Stream}: stopped after {Read} frames read, {Processed} processed, {Dropped} dropped, {Reconnects} reconnects",
                        Definition.Id, read, processed, dropped, reconnects);
                }
                break; // stopped, or a file without loop that played to its end
            }
            if (stable)
            {
                backoff.Reset();
            }
            var delay = backoff.Next();
            var reason = Redaction.Redact(FirstLine(failure.Message));
            lock (_lock)
            {
                _faults++;
                _fault = reason;
                _framesAtFault = _status.Frames;
            }
            _logger.LogError("{Stream}: faulted ({Error}); restarting in {Delay:0.0} s (fault {Count} in a row)",
                Definition.Id, reason, delay.TotalSeconds, backoff.Failures);
            _logger.LogDebug(failure, "{Stream}: fault details", Definition.Id);
            try
            {
                await Task.Delay(delay, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Adds a finished run's counters to the totals and releases it.</summary>
    private async Task EndRunAsync(StreamAssembly stream)
    {
        lock (_lock)
        {
            if (ReferenceEquals(_stream, stream))
            {
                _readBefore += stream.Pipeline.Capture.In;
                _droppedBefore += stream.Pipeline.Capture.Dropped;
                _reconnectsBefore += (stream.Source as ReconnectingSource)?.Status.Reconnects ?? 0;
                _lastZones = stream.Pipeline.ZoneCounters ?? _lastZones;
                _stream = null;
            }
        }
        await stream.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Whether the run that just failed processed frames and lasted <c>Reconnect:StableAfterMs</c>: its fault then waits as the first.</summary>
    private bool RanStably()
    {
        lock (_lock)
        {
            return _status.Frames > _framesAtFault
                && Stopwatch.GetElapsedTime(_runStartedTicks).TotalMilliseconds >= _service.Defaults.Reconnect.StableAfterMs;
        }
    }

    private (long Read, long Processed, long Dropped, long Reconnects) Totals()
    {
        lock (_lock)
        {
            return TotalsLocked();
        }
    }

    private (long Read, long Processed, long Dropped, long Reconnects) TotalsLocked()
    {
        var pipeline = _stream?.Pipeline;
        return (_readBefore + (pipeline?.Capture.In ?? 0), _status.Frames, _droppedBefore + (pipeline?.Capture.Dropped ?? 0),
            _reconnectsBefore + ((_stream?.Source as ReconnectingSource)?.Status.Reconnects ?? 0));
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].TrimEnd();

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
        StreamAssembly? stream;
        string? fault;
        long faults;
        long read;
        long dropped;
        long reconnects;
        lock (_lock)
        {
            stream = _stream;
            // A fault shows until the restarted stream has processed a frame.
            fault = _fault is not null && _status.Frames <= _framesAtFault ? _fault : null;
            faults = _faults;
            (read, _, dropped, reconnects) = TotalsLocked();
        }
        var health = (stream?.Source as ReconnectingSource)?.Status;
        var state = _run is { IsCompleted: true } ? StreamState.Stopped
            : fault is not null ? StreamState.Faulted
            : stream is null ? StreamState.Connecting
            : health is not null ? StreamStates.From(health.State)
            : StreamState.Running;
        if (stream?.Source.Info.Fps is > 0 and var fps)
        {
            var target = Spec.Capture.TargetFps;
            Volatile.Write(ref _sourceFps, target > 0 ? Math.Min(target, fps) : fps);
        }
        var (p50, p99) = _status.AgePercentiles();
        return new StreamStatus(Definition.Id, Redacted, state,
            fault ?? health?.LastError ?? (_run is { IsFaulted: true } failed ? failed.Exception?.InnerException?.Message : null),
            health?.LastFrameUtc, read, _status.Frames, dropped, reconnects, _status.Fps(), p50, p99, _status.Activity,
            _status.AnomalyScore, _status.Events)
        {
            Faults = faults,
            SourceFps = Volatile.Read(ref _sourceFps),
            OfferedFps = state is StreamState.Stopped ? 0 : _offered.Rate(read),
            Learning = _learning?.Status,
            AnomalyModel = Volatile.Read(ref _modelNote),
            Zones = stream?.Pipeline.ZoneCounters ?? Volatile.Read(ref _lastZones),
        };
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
        if (Interlocked.Exchange(ref _prepared, null) is { } unused)
        {
            // Built to check a definition, then never started (a reload that another stream made fail).
            await unused.DisposeAsync().ConfigureAwait(false);
        }
        if (_learning is not null)
        {
            await _learning.StopAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}

/// <summary>
/// A recent rate from a rising counter, sampled whenever it is asked: frames over the last minute or so, from at most
/// 64 samples (bounded whatever the uptime). Thread-safe.
/// </summary>
internal sealed class RateMeter
{
    private const int MaxSamples = 64;
    private static readonly TimeSpan s_window = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan s_spacing = TimeSpan.FromSeconds(1);
    private readonly Queue<(long Ticks, long Count)> _samples = new();
    private readonly Lock _lock = new();

    public double Rate(long count)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (_samples.Count == 0 || Stopwatch.GetElapsedTime(_samples.Last().Ticks, now) >= s_spacing)
            {
                _samples.Enqueue((now, count));
            }
            while (_samples.Count > MaxSamples || (_samples.Count > 2 && Stopwatch.GetElapsedTime(_samples.ElementAt(1).Ticks, now) > s_window))
            {
                _samples.Dequeue();
            }
            var (ticks, first) = _samples.Peek();
            var seconds = Stopwatch.GetElapsedTime(ticks, now).TotalSeconds;
            return seconds >= 1 ? Math.Max(0, count - first) / seconds : 0;
        }
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
