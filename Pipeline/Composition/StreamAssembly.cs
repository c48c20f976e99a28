using Edge.Capture;
using Edge.Models;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Composition;

/// <summary>How a stream's source is read.</summary>
public enum SourceMode
{
    /// <summary>A file or folder as fast as the pipeline takes it, every frame (lossless).</summary>
    File,

    /// <summary>A file played once at its own frame rate, as a camera would deliver it (drops when behind).</summary>
    FileAsLive,

    /// <summary>A camera, URL or looping file that reconnects after failures (<see cref="ReconnectingSource"/>).</summary>
    Live,
}

/// <summary>Where a stream's results go; every output is optional.</summary>
public sealed record StreamOutputs
{
    /// <summary>frames.jsonl and embeddings.npy, written into this folder's staging area.</summary>
    public OutputDirectory? Results { get; init; }

    /// <summary>annotated.mp4 into this folder's staging area.</summary>
    public OutputDirectory? AnnotatedVideo { get; init; }

    /// <summary>Events (files, store, delivery outbox), when the stream has a temporal stage.</summary>
    public EventOutput? Events { get; init; }

    /// <summary>Live previews for the dashboard.</summary>
    public PreviewOutput? Preview { get; init; }

    /// <summary>More sinks, run after the ones above; the stream owns them from the moment it is built.</summary>
    public IReadOnlyList<IResultSink> Extra { get; init; } = [];
}

/// <param name="Folder">Where snapshots, clips and the JSON lines go.</param>
/// <param name="OpenStore">Opens (or hands over) the event store, called only when the stream has events; the stream
/// disposes it when <paramref name="OwnsStore"/>.</param>
/// <param name="JsonLines">File name of the JSON lines in <paramref name="Folder"/>.</param>
/// <param name="KeepEvents">Keep every event in memory for a run's summary (off for a service).</param>
/// <param name="OnStored">Called on the sink's thread after each event is stored.</param>
/// <param name="DailyJsonLines">One JSON-lines file per UTC day (a service's streams, for retention).</param>
public sealed record EventOutput(string Folder, Func<SqliteEventStore> OpenStore, bool OwnsStore, string JsonLines = EventsSink.EventsFile,
    bool KeepEvents = true, Action<DetectedEvent>? OnStored = null, bool DailyJsonLines = false);

public sealed record PreviewOutput(PreviewHub Hub, int IntervalMs, int JpegQuality);

/// <summary>What turns a source into a running stream: the source, how to read it, its options and its outputs.</summary>
public sealed record StreamSpec
{
    public required string Source { get; init; }

    /// <summary>The stream's id; null derives one from the source (file name, camera number, URL host and path).</summary>
    public string? StreamId { get; init; }

    public SourceMode Mode { get; init; } = SourceMode.File;

    /// <summary>Live mode, files only: start again at the end.</summary>
    public bool Loop { get; init; }

    /// <summary>Which sources may be opened; null allows what the command line allows.</summary>
    public SourcePolicy? Policy { get; init; }

    public required CaptureOptions Capture { get; init; }

    public ReconnectOptions Reconnect { get; init; } = new();

    public required PipelineOptions Pipeline { get; init; }

    /// <summary>Configured model paths (resolved against Models:Directory); empty for none.</summary>
    public string AnomalyModel { get; init; } = "";

    /// <summary>The stream learns its anomaly model while it runs (edge run): its temporal stage keeps grids and takes a new model without stopping.</summary>
    public bool LearnsAnomaly { get; init; }

    public string ActivityModel { get; init; } = "";

    /// <summary>Whether the object stage runs (when a head is configured and found).</summary>
    public bool ObjectStage { get; init; } = true;

    /// <summary>Tracks the object stage's objects across frames (ids, dwell, speed, trails); null or disabled: no tracker.</summary>
    public Tracking.TrackingOptions? Tracking { get; init; }

    /// <summary>The stream's zones and lines, judged against its tracks; null or empty: none. Needs the tracker.</summary>
    public Zones.ZoneLayoutOptions? Zones { get; init; }

    public EventRules Events { get; init; } = new();

    public StreamOutputs Outputs { get; init; } = new();
}

/// <summary>
/// The composition root of a stream: turns a <see cref="StreamSpec"/> and a <see cref="ModelCatalog"/> into a running
/// stream — source, frame pool, pipeline, object stage, temporal stage, sinks — for <c>edge process</c>, each stream of
/// <c>edge run</c>, <c>edge bench</c> and the verbs that embed video for training and evaluation. A new stage is added
/// here once. Owns the source, the pipeline (and its pool), the object stage and its head, and every sink; not the
/// catalog's models. Dispose after the run.
/// </summary>
public sealed class StreamAssembly : IAsyncDisposable
{
    private readonly IFrameSource _source;
    private readonly EmbeddingClassifier? _head;
    private readonly ObjectDetector? _objects;
    private readonly List<IResultSink> _sinks;
    private bool _disposed;
    private bool _sinksDisposed;

    private StreamAssembly(IFrameSource source, FramePipeline pipeline, TemporalAnalyzer? temporal, EmbeddingClassifier? head,
        ObjectDetector? objects, List<IResultSink> sinks, EventsSink? events, double resultFps)
    {
        _source = source;
        Pipeline = pipeline;
        Temporal = temporal;
        _head = head;
        _objects = objects;
        _sinks = sinks;
        Events = events;
        ResultFps = resultFps;
    }

    public FramePipeline Pipeline { get; }

    public IFrameSource Source => _source;

    public string StreamId => _source.StreamId;

    public TemporalAnalyzer? Temporal { get; }

    /// <summary>The object stage's head (labels, manifest); null when the stage is off or a detector finds the objects.</summary>
    public EmbeddingClassifier? ObjectHead => _head;

    /// <summary>The object stage (what finds objects, its labels); null when it is off.</summary>
    public ObjectDetector? Objects => _objects;

    /// <summary>The events sink, when the stream writes events.</summary>
    public EventsSink? Events { get; }

    /// <summary>Frames per second of the results (after stride or target fps): the rate clips are written at.</summary>
    public double ResultFps { get; }

    /// <summary>Opens the source and models and builds the stream; nothing runs until <see cref="RunAsync"/>.</summary>
    public static StreamAssembly Build(StreamSpec spec, ModelCatalog models, ILoggerFactory logs)
    {
        var captureLogger = logs.CreateLogger("Edge.Capture");
        IFrameSource source = spec.Mode switch
        {
            SourceMode.Live => FrameSources.OpenLive(spec.Source, spec.Capture, spec.Reconnect, spec.StreamId, spec.Loop, captureLogger, spec.Policy),
            _ => FrameSources.Open(spec.Source, spec.Capture, spec.StreamId, replayAsLive: spec.Mode == SourceMode.FileAsLive, captureLogger, policy: spec.Policy),
        };
        EmbeddingClassifier? head = null;
        ObjectDetector? objects = null;
        var sinks = new List<IResultSink>();
        try
        {
            var anomaly = models.SequenceModel(spec.AnomalyModel, "anomaly");
            var activity = models.SequenceModel(spec.ActivityModel, "activity");
            var temporal = anomaly is null && activity is null && !spec.LearnsAnomaly ? null : new TemporalAnalyzer(anomaly, activity, spec.LearnsAnomaly);
            var detector = spec.ObjectStage ? models.OpenBoxDetector() : null;
            try
            {
                head = spec.ObjectStage && detector is null ? models.OpenObjectHead() : null;
                objects = head is null && detector is null ? null : new ObjectDetector(models.Embedder, head, models.Settings.Objects, detector);
            }
            catch
            {
                detector?.Dispose();
                throw;
            }
            var fps = ResultFpsOf(source.Info, spec);
            var outputs = spec.Outputs;
            if (outputs.Results is { } results)
            {
                sinks.Add(new ResultFilesSink(results, models.Embedder.EmbeddingSize));
            }
            var tracker = objects is not null && spec.Tracking is { Enabled: true } tracking ? new Tracking.MultiObjectTracker(tracking) : null;
            var zones = spec.Zones is { } layout && (layout.Zones.Length > 0 || layout.Lines.Length > 0) ? layout : null;
            if (zones is not null && tracker is null)
            {
                throw new StreamConfigException("zones and lines are judged on tracks: they need the object stage (Objects:Enabled and its head or detector) and Tracking:Enabled");
            }
            if (tracker is null && spec.Tracking is { ActivityModel: { Length: > 0 } })
            {
                throw new StreamConfigException("per-track activity (Tracking:ActivityModel) labels tracks: it needs the object stage (Objects:Enabled and its head or detector) and Tracking:Enabled");
            }
            var trackModel = tracker is not null ? models.SequenceModel(spec.Tracking!.ActivityModel, ModelCatalog.TrackActivityRole) : null;
            EventsSink? events = null;
            if (outputs.Events is { } e && (temporal is not null || zones is not null || trackModel is not null))
            {
                events = new EventsSink(e.Folder, e.OpenStore(), spec.Events, fps, e.OwnsStore, e.JsonLines, e.KeepEvents, e.DailyJsonLines);
                if (e.OnStored is { } onStored)
                {
                    events.EventStored += onStored;
                }
                sinks.Add(events);
            }
            if (outputs.AnnotatedVideo is { } annotated)
            {
                sinks.Add(new AnnotatedVideoSink(annotated, fps));
            }
            if (outputs.Preview is { } preview)
            {
                sinks.Add(new PreviewSink(preview.Hub, preview.IntervalMs, preview.JpegQuality));
            }
            sinks.AddRange(outputs.Extra);
            var trackActivity = trackModel is null ? null : new Tracking.TrackActivity(trackModel, models.Embedder.Grid!, spec.Events);
            var pipeline = new FramePipeline(source, models.Embedder, sinks, spec.Pipeline, logs.CreateLogger("Edge.Pipeline"), temporal, objects, tracker, zones, trackActivity);
            return new StreamAssembly(source, pipeline, temporal, head, objects, sinks, events, fps);
        }
        catch
        {
            objects?.Dispose();
            head?.Dispose();
            foreach (var sink in sinks.Concat(spec.Outputs.Extra).Distinct())
            {
                sink.DisposeAsync().AsTask().GetAwaiter().GetResult();
            }
            source.Dispose();
            throw;
        }
    }

    /// <summary>Runs until the source ends or <paramref name="stop"/>; the sinks are completed and released after.</summary>
    public async Task<PipelineReport> RunAsync(CancellationToken stop)
    {
        try
        {
            return await Pipeline.RunAsync(stop).ConfigureAwait(false);
        }
        finally
        {
            await DisposeSinksAsync().ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Frames per second of the results: a live source delivers at its target rate (or its own), a file at its rate
    /// divided by the stride kept.
    /// </summary>
    private static double ResultFpsOf(SourceInfo info, StreamSpec spec)
    {
        // A live source's rate is known only once it has connected; until then its target rate, or 10.
        var fps = info.Fps > 0 ? info.Fps : spec.Capture.TargetFps > 0 ? spec.Capture.TargetFps : 10;
        if (info.IsLive || spec.Mode != SourceMode.File)
        {
            return spec.Capture.TargetFps > 0 ? Math.Min(spec.Capture.TargetFps, fps) : fps;
        }
        return fps / Math.Max(1, Strides.For(spec.Capture, fps));
    }

    private async Task DisposeSinksAsync()
    {
        if (_sinksDisposed)
        {
            return;
        }
        _sinksDisposed = true;
        foreach (var sink in _sinks)
        {
            await sink.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        await DisposeSinksAsync().ConfigureAwait(false);
        Pipeline.Dispose();
        _objects?.Dispose();
        _head?.Dispose();
        _source.Dispose();
    }
}
