using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Edge.Capture;
using Edge.Models;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline;

/// <summary>
/// The channel graph for one source: capture → CNN (batches of up to B frames or T ms; then the object stage on the
/// same frames while their pixels exist) → analysis → sinks, with a
/// bounded channel between each pair. Files are lossless (capture waits for the CNN); live sources drop the oldest
/// queued frame and count it, so latency stays bounded when Edge is slower than the camera. Frames are leases from a
/// pool sized for the channels: native memory is bounded by the pool, not by how far behind a stage is.
/// Cancelling the token passed to <see cref="RunAsync"/> stops capture; frames already read are still processed and
/// the sinks are completed. A failing stage aborts the others; every lease is back in the pool when it returns.
/// The pipeline owns its frame pool; dispose the pipeline after the run to free the pool's buffers.
/// </summary>
public sealed class FramePipeline : IDisposable
{
    private readonly IFrameSource _source;
    private readonly IFrameEmbedder _embedder;
    private readonly IReadOnlyList<IResultSink> _sinks;
    private readonly TemporalAnalyzer? _temporal;
    private readonly ObjectDetector? _objects;
    private readonly Tracking.MultiObjectTracker? _tracker;
    private readonly Zones.ZoneLayoutOptions? _zoneOptions;
    private readonly Tracking.TrackActivity? _trackActivity;
    // Made at the first frame, whose size the layout is checked against (a live source's size is known only then).
    private Zones.ZoneMonitor? _zones;
    private readonly PipelineOptions _options;
    private readonly ILogger _logger;
    private readonly bool _needsPixels;
    private readonly bool _needsGrid;
    // The cells' optical flow, measured in the CNN stage (frames in order, the pairs the temporal stage compares).
    private readonly CellFlow? _cellFlow;
    private readonly Channel<Frame> _frames;
    private readonly Channel<FrameResult> _embedded;
    private readonly Channel<FrameResult> _analysed;
    // Each frame's grid (200 kB for ResNet18's layer 3, a large-object-heap allocation) comes from here and goes back
    // once the sinks have seen it: the temporal stage and the feature recorder copy what they keep.
    private readonly ConcurrentBag<float[]> _grids = [];
    private long _startTicks;
    private long _endTicks;

    /// <param name="temporal">The temporal stage's models, or null to pass results through with an empty analysis.</param>
    /// <param name="objects">The object stage (over the same <paramref name="embedder"/>), or null for none.</param>
    /// <param name="trackActivity">Activity per track, after the tracker (reads each frame's grid); null for none.</param>
    public FramePipeline(IFrameSource source, IFrameEmbedder embedder, IReadOnlyList<IResultSink> sinks,
        PipelineOptions options, ILogger logger, TemporalAnalyzer? temporal = null, ObjectDetector? objects = null,
        Tracking.MultiObjectTracker? tracker = null, Zones.ZoneLayoutOptions? zones = null, Tracking.TrackActivity? trackActivity = null)
    {
        _tracker = tracker;
        _zoneOptions = tracker is null ? null : zones;
        _trackActivity = tracker is null ? null : trackActivity;
        temporal?.CheckFeatures(embedder.EmbeddingSize, embedder.Grid);
        _needsGrid = (temporal?.ReadsGrid ?? false) || sinks.Any(s => s.NeedsGrid) || (objects?.ReadsGrid ?? false) || _trackActivity is not null;
        if (_needsGrid && embedder.Grid is null)
        {
            throw new ModelException(ModelError.Invalid,
                "the anomaly model, the object head or the feature recording reads the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
        }
        // A stream whose anomaly model reads grids measures the flow too: a model learned now reads it, an older one
        // ignores it, and a hot swap between the two needs no new pipeline.
        if (embedder.Grid is { } grid && ((temporal?.ReadsGrid ?? false) || sinks.Any(s => s.NeedsFlow)))
        {
            _cellFlow = new CellFlow(grid.Height, grid.Width);
        }
        _temporal = temporal;
        _objects = objects;
        _source = source;
        _embedder = embedder;
        _sinks = sinks;
        _options = options;
        _logger = logger;
        _needsPixels = sinks.Any(s => s.NeedsPixels);
        BatchSize = Math.Min(options.BatchSize, embedder.MaxBatch);
        IsLive = source.Info.IsLive;

        var frameChannel = new BoundedChannelOptions(options.CaptureQueue)
        {
            SingleReader = true,
            SingleWriter = true,
            FullMode = IsLive ? BoundedChannelFullMode.DropOldest : BoundedChannelFullMode.Wait,
        };
        // A dropped frame is disposed here, by the channel, which is its only holder at that moment.
        _frames = Channel.CreateBounded<Frame>(frameChannel, OnFrameDropped);
        var resultChannel = new BoundedChannelOptions(options.ResultQueue) { SingleReader = true, SingleWriter = true };
        _embedded = Channel.CreateBounded<FrameResult>(resultChannel);
        _analysed = Channel.CreateBounded<FrameResult>(resultChannel);

        // Buffers: a full capture queue, a batch in the CNN, one being decoded, one spare; with pixels kept for a
        // sink, also both result queues and the result each later stage holds.
        var poolSize = options.CaptureQueue + BatchSize + 2 + (_needsPixels ? 2 * options.ResultQueue + 2 : 0);
        Pool = new FramePool(poolSize);
        Capture = new StageMetrics("capture");
        Inference = new StageMetrics("cnn", () => _frames.Reader.Count);
        Objects = objects is null ? null : new StageMetrics("objects");
        Analysis = new StageMetrics("analysis", () => _embedded.Reader.Count);
        Sinks = new StageMetrics("sinks", () => _analysed.Reader.Count);
    }

    public FramePool Pool { get; }

    /// <summary>Every frame's age at the CNN's output (capture → end of inference), in a fixed number of buckets.</summary>
    public FrameAgeHistogram FrameAges { get; } = new();

    public bool IsLive { get; }

    public int BatchSize { get; }

    public StageMetrics Capture { get; }

    public StageMetrics Inference { get; }

    public StageMetrics Analysis { get; }

    public StageMetrics Sinks { get; }

    /// <summary>The object stage's share of the CNN stage: frames in and out, crop CNN runs skipped; null when off.</summary>
    public StageMetrics? Objects { get; }

    public IReadOnlyList<StageMetrics> Stages => Objects is null ? [Capture, Inference, Analysis, Sinks] : [Capture, Inference, Objects, Analysis, Sinks];

    /// <summary>Seconds since the run started (or its total length once it has ended).</summary>
    public double ElapsedSeconds =>
        _startTicks == 0 ? 0 : Stopwatch.GetElapsedTime(_startTicks, _endTicks != 0 ? _endTicks : Stopwatch.GetTimestamp()).TotalSeconds;

    /// <summary>Runs until the source ends or <paramref name="stop"/> is cancelled; returns the run's report.</summary>
    public async Task<PipelineReport> RunAsync(CancellationToken stop)
    {
        _startTicks = Stopwatch.GetTimestamp();
        using var abort = new CancellationTokenSource();
        using var captureStop = CancellationTokenSource.CreateLinkedTokenSource(stop, abort.Token);
        var stages = new[]
        {
            Task.Factory.StartNew(() => RunCapture(captureStop.Token, abort.Token), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default),
            Task.Factory.StartNew(() => RunInferenceAsync(abort.Token), CancellationToken.None,
                TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap(),
            Task.Run(() => RunAnalysisAsync(abort.Token), CancellationToken.None),
            Task.Run(() => RunSinksAsync(abort.Token), CancellationToken.None),
        };
        foreach (var stage in stages)
        {
            // The first stage to fail aborts the rest, so nobody waits on a channel that will never move.
            _ = stage.ContinueWith(t => abort.Cancel(), CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        }
        try
        {
            await Task.WhenAll(stages).ConfigureAwait(false);
        }
        catch when (stages.Any(s => s.IsFaulted))
        {
            // Reported below from the first faulted stage, after the channels are drained.
        }
        finally
        {
            _endTicks = Stopwatch.GetTimestamp();
            DrainAll();
        }
        var failure = stages.FirstOrDefault(s => s.IsFaulted)?.Exception?.InnerException;
        if (failure is not null)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
        }
        return Report(stopped: stop.IsCancellationRequested);
    }

    private void OnFrameDropped(Frame frame)
    {
        frame.Dispose();
        Capture.CountDropped();
        if (Capture.Dropped == 1)
        {
            _logger.LogWarning("{Stream}: analysis is slower than the source; dropping the oldest queued frames to stay current",
                _source.StreamId);
        }
    }

    /// <summary>Reads until the source ends or <paramref name="ct"/> stops it; a frame already read is still handed on.</summary>
    private void RunCapture(CancellationToken ct, CancellationToken abort)
    {
        var writer = _frames.Writer;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var started = Stopwatch.GetTimestamp();
                var frame = _source.Read(Pool, ct);
                if (frame is null)
                {
                    break;
                }
                Capture.CountIn();
                if (!TryWrite(writer, frame, abort))
                {
                    frame.Dispose();
                    break;
                }
                Capture.CountOut(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            writer.TryComplete();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            writer.TryComplete();
        }
        catch (Exception ex)
        {
            writer.TryComplete(ex);
            throw;
        }
    }

    /// <summary>Writes on the capture thread; returns false when stopped. Ownership passes only on true.</summary>
    private static bool TryWrite(ChannelWriter<Frame> writer, Frame frame, CancellationToken ct)
    {
        while (!writer.TryWrite(frame))
        {
            try
            {
                if (!writer.WaitToWriteAsync(ct).AsTask().GetAwaiter().GetResult())
                {
                    return false;
                }
            }
            catch (OperationCanceledException)
            {
                return false;
            }
        }
        return true;
    }

    private async Task RunInferenceAsync(CancellationToken abort)
    {
        var reader = _frames.Reader;
        var batch = new List<Frame>(BatchSize);
        var images = new List<OpenCvSharp.Mat>(BatchSize);
        try
        {
            while (await reader.WaitToReadAsync(abort).ConfigureAwait(false))
            {
                await FillBatchAsync(reader, batch, abort).ConfigureAwait(false);
                var started = Stopwatch.GetTimestamp();
                images.Clear();
                foreach (var frame in batch)
                {
                    images.Add(frame.Image);
                }
                var results = _needsGrid
                    ? ToResults(batch, await _embedder.EmbedFeaturesAsync(images, abort).ConfigureAwait(false))
                    : ToResults(batch, new FrameFeatures(await _embedder.EmbedAsync(images, abort).ConfigureAwait(false), null));
                var perFrameMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds / batch.Count;
                if (_objects is not null)
                {
                    await DetectObjectsAsync(batch, results, abort).ConfigureAwait(false);
                }
                ReleaseUnneeded(batch);
                batch.Clear();
                for (var i = 0; i < results.Count; i++)
                {
                    try
                    {
                        await _embedded.Writer.WriteAsync(results[i], abort).ConfigureAwait(false);
                    }
                    catch
                    {
                        // Results not handed on still own their frames' pixels.
                        foreach (var unsent in results.Skip(i))
                        {
                            Release(unsent);
                        }
                        throw;
                    }
                    Inference.CountOut(perFrameMs);
                }
                batch.Clear();
            }
            _embedded.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _embedded.Writer.TryComplete(ex);
            throw;
        }
        finally
        {
            foreach (var frame in batch)
            {
                frame?.Dispose();
            }
        }
    }

    /// <summary>
    /// Turns a batch into results. Each result takes over its frame's lease when a sink needs the pixels; otherwise
    /// <see cref="ReleaseUnneeded"/> releases the frames once the object stage has seen them.
    /// </summary>
    private List<FrameResult> ToResults(List<Frame> batch, FrameFeatures features)
    {
        var size = _embedder.EmbeddingSize;
        var embeddings = features.Embeddings.AsSpan();
        var gridSize = _embedder.Grid?.Size ?? 0;
        var results = new List<FrameResult>(batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            var frame = batch[i];
            var result = new FrameResult(frame.StreamId, frame.Index, frame.TimestampMs,
                embeddings.Slice(i * size, size).ToArray(), frame.AgeMs, frame.CapturedTicks)
            {
                Pixels = _needsPixels ? frame : null,
                Width = frame.Image.Width,
                Height = frame.Image.Height,
                Grid = features.Grids is { } grids ? RentGrid(grids.AsSpan(i * gridSize, gridSize)) : null,
                Flow = _cellFlow?.Measure(frame.Image),
            };
            results.Add(result);
        }
        foreach (var result in results)
        {
            FrameAges.Record(result.AgeMs);
        }
        return results;
    }

    private float[] RentGrid(ReadOnlySpan<float> values)
    {
        var grid = _grids.TryTake(out var pooled) ? pooled : new float[values.Length];
        values.CopyTo(grid);
        return grid;
    }

    /// <summary>Releases a result's frame lease and gives its grid back to the pool; the result must not be read after.</summary>
    private void Release(FrameResult result)
    {
        result.Pixels?.Dispose();
        if (result.Grid is { } grid && grid.Length == (_embedder.Grid?.Size ?? -1) && _grids.Count < MaxPooledGrids)
        {
            _grids.Add(grid);
        }
    }

    private int MaxPooledGrids => 2 * _options.ResultQueue + 2 * BatchSize + 4;

    private void ReleaseUnneeded(List<Frame> batch)
    {
        if (!_needsPixels)
        {
            foreach (var frame in batch)
            {
                frame.Dispose();
            }
        }
    }

    /// <summary>Runs the object stage on the batch's pixels and puts each frame's objects on its result.</summary>
    private async Task DetectObjectsAsync(List<Frame> batch, List<FrameResult> results, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        foreach (var _ in batch)
        {
            Objects!.CountIn();
        }
        var (objects, ran) = await _objects!.DetectAsync(batch, ct, _objects.ReadsGrid ? [.. results.Select(r => r.Grid)] : null).ConfigureAwait(false);
        var perFrameMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds / batch.Count;
        for (var i = 0; i < results.Count; i++)
        {
            results[i] = results[i] with { Objects = objects[i] };
            if (!ran[i])
            {
                Objects!.CountSkipped();
            }
            Objects!.CountOut(perFrameMs);
        }
    }

    /// <summary>Takes up to a batch of frames: what is queued now, then waits for more until the batch deadline.</summary>
    private async Task FillBatchAsync(ChannelReader<Frame> reader, List<Frame> batch, CancellationToken abort)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(_options.BatchTimeoutMs * Stopwatch.Frequency / 1000.0);
        while (batch.Count < BatchSize)
        {
            if (reader.TryRead(out var frame))
            {
                Inference.CountIn();
                batch.Add(frame);
                continue;
            }
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (batch.Count > 0 && remaining <= TimeSpan.Zero)
            {
                return;
            }
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(abort);
            timeout.CancelAfter(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
            try
            {
                if (!await reader.WaitToReadAsync(timeout.Token).ConfigureAwait(false))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!abort.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>The zone monitor, made at the first frame; throws <see cref="Zones.ZoneLayoutException"/> when the layout does not fit the frame.</summary>
    private Zones.ZoneMonitor? ZonesFor(FrameResult result)
    {
        if (_zones is null && _zoneOptions is not null)
        {
            _zones = new Zones.ZoneMonitor(Zones.ZoneLayout.Create(_zoneOptions, result.Width, result.Height));
        }
        return _zones;
    }

    /// <summary>Occupancy, entries and line counts of the stream's zones and lines now; null without zones (or before the first frame).</summary>
    public Zones.ZoneCounters? ZoneCounters => _zones?.Counters;

    /// <summary>Activity per track (windows labelled, model calls); null without a per-track activity model.</summary>
    public Tracking.TrackActivity? TrackActivity => _trackActivity;

    private async Task RunAnalysisAsync(CancellationToken abort)
    {
        try
        {
            await foreach (var result in _embedded.Reader.ReadAllAsync(abort).ConfigureAwait(false))
            {
                var started = Stopwatch.GetTimestamp();
                Analysis.CountIn();
                var analysis = _temporal is null ? new FrameAnalysis() : await _temporal.AnalyzeAsync(result, abort).ConfigureAwait(false);
                // The tracker sees every frame in order (here, one frame at a time), its objects included; the zones
                // see what the tracker made of it.
                var update = _tracker?.Update(result);
                var zones = update is not null ? ZonesFor(result) : null;
                var zoneEvents = zones is not null ? zones.Update(update!) : [];
                var (activities, activityEvents) = _trackActivity is not null && update is not null
                    ? await _trackActivity.UpdateAsync(result, update, abort).ConfigureAwait(false)
                    : (result.TrackActivities, result.TrackActivityEvents);
                await WriteResultAsync(_analysed.Writer, result with
                {
                    Analysis = analysis,
                    Tracks = update?.Present ?? [],
                    TrackActivities = activities,
                    TrackActivityEvents = activityEvents,
                    ZoneEvents = zoneEvents,
                    ZoneLayout = zones?.Layout,
                    ZoneCounts = zones?.Counters,
                }, abort).ConfigureAwait(false);
                Analysis.CountOut(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            _analysed.Writer.TryComplete();
        }
        catch (Exception ex)
        {
            _analysed.Writer.TryComplete(ex);
            throw;
        }
    }

    private async Task RunSinksAsync(CancellationToken abort)
    {
        await foreach (var result in _analysed.Reader.ReadAllAsync(abort).ConfigureAwait(false))
        {
            try
            {
                var started = Stopwatch.GetTimestamp();
                Sinks.CountIn();
                foreach (var sink in _sinks)
                {
                    await sink.WriteAsync(result, abort).ConfigureAwait(false);
                }
                Sinks.CountOut(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
            finally
            {
                Release(result);
            }
        }
        foreach (var sink in _sinks)
        {
            await sink.CompleteAsync(abort).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a result downstream; if the write cannot happen, the result's pixels are released here.</summary>
    private async ValueTask WriteResultAsync(ChannelWriter<FrameResult> writer, FrameResult result, CancellationToken abort)
    {
        try
        {
            await writer.WriteAsync(result, abort).ConfigureAwait(false);
        }
        catch
        {
            Release(result);
            throw;
        }
    }

    /// <summary>Channels never dispose what they hold: after a stop or a failure, release every buffered lease.</summary>
    private void DrainAll()
    {
        _frames.Writer.TryComplete();
        _embedded.Writer.TryComplete();
        _analysed.Writer.TryComplete();
        while (_frames.Reader.TryRead(out var frame))
        {
            frame.Dispose();
        }
        foreach (var channel in new[] { _embedded, _analysed })
        {
            while (channel.Reader.TryRead(out var result))
            {
                Release(result);
            }
        }
    }

    private PipelineReport Report(bool stopped)
    {
        return new PipelineReport(
            _source.StreamId,
            _source.Info,
            FramesRead: Capture.In,
            FramesProcessed: Sinks.Out,
            FramesDropped: Capture.Dropped,
            ElapsedSeconds: ElapsedSeconds,
            Provider: _embedder.Provider.ToString(),
            BatchSize: BatchSize,
            PoolSize: Pool.Capacity,
            PoolPeak: Pool.PeakOutstanding,
            FrameAgeP50Ms: FrameAges.Percentile(0.50),
            FrameAgeP99Ms: FrameAges.Percentile(0.99),
            StoppedEarly: stopped,
            Stages: [.. Stages.Select(s => s.Snapshot())],
            Objects: _objects?.Stats);
    }

    public void Dispose()
    {
        _cellFlow?.Dispose();
        Pool.Dispose();
    }
}
