using Edge.Pipeline.Tracking;
using Edge.Pipeline.Events;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Composition;
using Microsoft.Extensions.Logging;
using OpenCvSharp;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge bench</c>: in one run, over the same frames, decode-only fps, inference-only fps (frames preloaded, resize
/// included) and end-to-end pipeline fps, and the ratio end-to-end / min(decode-only, inference-only).
/// </summary>
public static class BenchCommand
{
    public sealed record Result(string Video, int Frames, int BatchSize, string Provider, int Threads,
        double DecodeFps, double InferenceFps, double EndToEndFps)
    {
        public double Ratio => EndToEndFps / Math.Min(DecodeFps, InferenceFps);

        /// <summary>With an anomaly model: its frames per second alone, on the same frames' features, one frame at a time as a stream runs it.</summary>
        public double? TemporalFps { get; init; }

        /// <summary>The temporal stage's time per frame over the CNN's (inference-only) time per frame.</summary>
        public double? TemporalShare => TemporalFps is { } t ? InferenceFps / t : null;

        /// <summary>The process's CPU time per frame in the inference-only run (all the CNN's threads).</summary>
        public double InferenceCpuMsPerFrame { get; init; }

        /// <summary>With an anomaly model: the process's CPU time per frame while the temporal stage ran alone.</summary>
        public double? TemporalCpuMsPerFrame { get; init; }

        /// <summary>The temporal stage's CPU time per frame over the CNN's CPU time per frame.</summary>
        public double? TemporalCpuShare => TemporalCpuMsPerFrame is { } t ? t / InferenceCpuMsPerFrame : null;

        /// <summary>With <c>--streams N</c>: N streams at once on one shared CNN.</summary>
        public StreamsResult? Streams { get; init; }

        /// <summary>With an anomaly model: the stream end to end with it and its events (store, snapshots, clips, pre-roll ring).</summary>
        public EventsResult? Events { get; init; }

        /// <summary>The resize into the model's input alone, on one thread and spread over the cores.</summary>
        public ResizeResult? Resize { get; init; }

        /// <summary>With <c>--capacity</c>: how many live 10 fps streams the machine holds.</summary>
        public CapacityResult? Capacity { get; init; }

        /// <summary>The tracker and the zone monitor at <see cref="BenchTracks"/> tracks (<see cref="TrackingBenchmark"/>).</summary>
        public TrackingCost? Tracking { get; init; }

        /// <summary>The tracker's and the zone monitor's time per frame over the CNN's (inference-only) time per frame.</summary>
        public double? TrackingShare => Tracking is { } t ? t.TotalUsPerFrame / 1000 / (1000 / InferenceFps) : null;

        /// <summary>The per-track activity stage's time per frame at <see cref="BenchTracks"/> tracks over the CNN's; null without a per-track model.</summary>
        public double? TrackActivityShare => Tracking?.ActivityUsPerFrame is { } us ? us / 1000 / (1000 / InferenceFps) : null;
    }

    /// <param name="Fps">End-to-end fps with the anomaly model and events.</param>
    /// <param name="SinksP50Ms">The sinks stage's time per frame (median), the pre-roll ring and any clip or snapshot included.</param>
    /// <param name="Events">Events the run raised (their snapshots and clips are in the time).</param>
    public sealed record EventsResult(double Fps, double SinksP50Ms, double SinksP99Ms, long Events, double CnnMsPerFrame)
    {
        /// <summary>The sinks' median time per frame over the CNN's time per frame (inference-only).</summary>
        public double SinksShare => SinksP50Ms / CnnMsPerFrame;
    }

    /// <param name="PerStreamFps">Each stream's frames over the wall time of the whole run.</param>
    /// <param name="FramesPerCall">Frames per shared CNN call on average (batches formed across streams).</param>
    /// <param name="Frames">Frames the streams processed, all together.</param>
    /// <param name="CnnFrames">Frames the shared CNN ran, in <paramref name="CnnCalls"/> calls.</param>
    public sealed record StreamsResult(int Streams, int MaxBatch, double AggregateFps, double[] PerStreamFps, double FramesPerCall, double InferenceFps,
        long Frames, long CnnFrames, long CnnCalls)
    {
        /// <summary>Aggregate end-to-end fps over the single-batch inference-only fps measured in the same run.</summary>
        public double Ratio => AggregateFps / InferenceFps;
    }

    /// <summary>One step of the capacity search: N live streams at once for a few seconds.</summary>
    /// <param name="WorstAgeP99Ms">The highest of the streams' p99 frame ages (capture to the end of inference).</param>
    /// <param name="Dropped">Frames the streams dropped, or skipped because they were read too late to keep the camera's clock.</param>
    /// <param name="Processed">Frames the streams processed, of <paramref name="Offered"/> their cameras delivered in the step.</param>
    public sealed record CapacityStep(int Streams, bool Holds, double WorstAgeP99Ms, long Dropped, long Processed, long Offered);

    /// <param name="Streams">The most streams that held (0 when even one did not).</param>
    public sealed record CapacityResult(int Streams, double StreamFps, int SecondsPerStep, double MaxAgeMs, IReadOnlyList<CapacityStep> Steps);

    /// <summary>Tracks the tracker's and the zone monitor's cost is measured at.</summary>
    public const int BenchTracks = 10;

    /// <summary>A live stream holds when its p99 frame age stays at or under this and it drops nothing.</summary>
    public const double CapacityMaxAgeMs = 1000;

    /// <summary>The rate of each live stream in the capacity search.</summary>
    public const double CapacityStreamFps = 10;

    public static async Task<int> RunAsync(EdgeContext context, string video, int frames, string? jsonPath, CancellationToken ct, string? anomalyModel = null,
        int streams = 0, int capacitySeconds = 0)
    {
        var logger = context.CreateLogger("Edge.Bench");
        var capture = new CaptureOptions
        {
            MaxFrames = frames,
            FrameStride = context.Get<CaptureOptions>().FrameStride,
            TargetFps = context.Get<CaptureOptions>().TargetFps,
            ResizeWidth = context.Get<CaptureOptions>().ResizeWidth,
            ResizeHeight = context.Get<CaptureOptions>().ResizeHeight,
        };
        await using var models = ModelCatalog.Open(
            new ModelSettings(context.Get<ModelOptions>(), context.Get<AnalysisOptions>(), context.Get<ObjectOptions>()),
            context.Get<PipelineOptions>().BatchSize, context.LoggerFactory);
        var embedder = models.FrameModel;

        // 1. Decode only: the source into a small pool, each frame returned at once.
        var (decoded, decodeSeconds) = Decode(video, capture, ct);
        logger.LogInformation("decode-only: {Frames} frames in {Seconds:0.00} s", decoded, decodeSeconds);

        // 2. Inference only: the same frames held in memory, run in full batches (after one warm-up batch).
        var preloaded = Preload(video, capture, ct);
        double inferenceSeconds;
        double inferenceCpuMs;
        (double Fps, double CpuMsPerFrame)? temporal = null;
        ResizeResult resize;
        try
        {
            if (anomalyModel is not null)
            {
                temporal = await TemporalFpsAsync(models, anomalyModel, preloaded, ct).ConfigureAwait(false);
                logger.LogInformation("temporal stage ({Model}) alone: {Fps:0.0} frames/s, {Cpu:0.00} ms of CPU a frame", anomalyModel, temporal.Value.Fps, temporal.Value.CpuMsPerFrame);
            }
            Embed(embedder, preloaded.Take(embedder.MaxBatch).ToList());
            resize = MeasureResize(embedder, preloaded, ct);
            logger.LogInformation("resize alone: {Single:0} frames/s on one thread, {Parallel:0} on {Threads}", resize.SingleThreadFps, resize.ParallelFps, resize.Threads);
            var started = Stopwatch.GetTimestamp();
            var cpuStarted = Environment.CpuUsage.TotalTime;
            foreach (var chunk in preloaded.Chunk(embedder.MaxBatch))
            {
                ct.ThrowIfCancellationRequested();
                Embed(embedder, chunk);
            }
            inferenceSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            inferenceCpuMs = (Environment.CpuUsage.TotalTime - cpuStarted).TotalMilliseconds / preloaded.Count;
        }
        finally
        {
            foreach (var mat in preloaded)
            {
                mat.Dispose();
            }
        }
        logger.LogInformation("inference-only: {Frames} frames in {Seconds:0.00} s", preloaded.Count, inferenceSeconds);

        // 3. End to end: the stream as edge process builds it, without the object stage, models or sinks.
        PipelineReport report;
        await using (var stream = StreamAssembly.Build(new StreamSpec { Source = video, Capture = capture, Pipeline = context.Get<PipelineOptions>(), ObjectStage = false },
            models, context.LoggerFactory))
        {
            report = await stream.RunAsync(ct).ConfigureAwait(false);
        }
        logger.LogInformation("end-to-end: {Frames} frames in {Seconds:0.00} s", report.FramesProcessed, report.ElapsedSeconds);

        // 4. With an anomaly model: end to end with the model and everything its events write, into a folder thrown away after.
        EventsResult? events = null;
        if (anomalyModel is not null)
        {
            var folder = Path.Combine(Path.GetTempPath(), "edge-bench-" + Guid.NewGuid().ToString("N")[..8]);
            Directory.CreateDirectory(folder);
            try
            {
                PipelineReport withEvents;
                long raised;
                await using (var stream = StreamAssembly.Build(new StreamSpec
                {
                    Source = video,
                    Capture = capture,
                    Pipeline = context.Get<PipelineOptions>(),
                    ObjectStage = false,
                    AnomalyModel = anomalyModel,
                    Events = context.Get<EventRules>(),
                    Outputs = new StreamOutputs { Events = new EventOutput(folder, () => new SqliteEventStore(Path.Combine(folder, SqliteEventStore.FileName)), OwnsStore: true) },
                }, models, context.LoggerFactory))
                {
                    withEvents = await stream.RunAsync(ct).ConfigureAwait(false);
                    raised = stream.Events?.Events.Count ?? 0;
                }
                var sinks = withEvents.Stages.Single(st => st.Name == "sinks");
                events = new EventsResult(withEvents.Fps, sinks.LatencyP50Ms, sinks.LatencyP99Ms, raised, 1000 * inferenceSeconds / preloaded.Count);
                logger.LogInformation("end-to-end with events: {Fps:0.0} frames/s, sinks p50 {P50:0.00} ms, {Events} events", events.Fps, events.SinksP50Ms, raised);
            }
            finally
            {
                Directory.Delete(folder, recursive: true);
            }
        }

        StreamsResult? many = null;
        if (streams > 0)
        {
            many = await StreamsAsync(context, models.Settings, video, capture, streams, preloaded.Count / inferenceSeconds, ct).ConfigureAwait(false);
            logger.LogInformation("{Streams} streams at once: {Fps:0.0} frames/s in all, {PerCall:0.0} frames per CNN call", streams, many.AggregateFps, many.FramesPerCall);
        }

        CapacityResult? capacity = null;
        if (capacitySeconds > 0)
        {
            capacity = await CapacityAsync(context, models.Settings, video, capacitySeconds, logger, ct).ConfigureAwait(false);
        }

        var result = new Result(video, decoded, embedder.MaxBatch, embedder.Provider.ToString(),
            models.Settings.Models.IntraOpThreads == 0 ? Environment.ProcessorCount : context.Get<ModelOptions>().IntraOpThreads,
            decoded / decodeSeconds, preloaded.Count / inferenceSeconds, report.FramesProcessed / report.ElapsedSeconds)
        {
            TemporalFps = temporal?.Fps,
            InferenceCpuMsPerFrame = inferenceCpuMs,
            TemporalCpuMsPerFrame = temporal?.CpuMsPerFrame,
            Streams = many,
            Events = events,
            Capacity = capacity,
            Resize = resize,
            // Synthetic walkers with embeddings as long as the default object head's (the grid's channels, else the
            // crop embedding), two zones and two lines; only the tracker's and the monitor's calls are timed.
            // With a per-track activity model configured (Tracking:ActivityModel), its stage is timed too.
            Tracking = TrackingBenchmark.Run(tracks: BenchTracks, frames: 2_000, embeddingSize: embedder.Grid?.Channels ?? embedder.EmbeddingSize,
                activity: models.SequenceModel(context.Get<TrackingOptions>().ActivityModel, ModelCatalog.TrackActivityRole), grid: embedder.Grid),
        };
        Print(result);
        if (jsonPath is not null)
        {
            await File.WriteAllTextAsync(jsonPath, JsonSerializer.Serialize(new
            {
                result.Video, result.Frames, result.BatchSize, result.Provider, result.Threads,
                result.DecodeFps, result.InferenceFps, result.EndToEndFps, result.Ratio, result.TemporalFps, result.TemporalShare,
                result.InferenceCpuMsPerFrame, result.TemporalCpuMsPerFrame, result.TemporalCpuShare,
                streams = many is null ? null : new
                {
                    count = many.Streams, many.MaxBatch, many.AggregateFps, many.PerStreamFps, many.FramesPerCall, ratio = many.Ratio,
                    many.Frames, many.CnnFrames, many.CnnCalls,
                },
                capacity,
                resize = result.Resize is { } rz ? new { rz.SingleThreadFps, rz.ParallelFps, rz.Threads, rz.Speedup } : null,
                tracking = result.Tracking is { } t ? new
                {
                    t.Tracks, t.Frames, t.TrackerUsPerFrame, t.ZonesUsPerFrame, t.Confirmed, share = result.TrackingShare,
                    t.ActivityUsPerFrame, t.ActivityWindows, t.ActivityCalls, activityShare = result.TrackActivityShare,
                } : null,
                events = events is null ? null : new { events.Fps, events.SinksP50Ms, events.SinksP99Ms, events.Events, events.CnnMsPerFrame, events.SinksShare },
            }), ct).ConfigureAwait(false);
        }
        return ExitCodes.Ok;
    }

    private static void Embed(FrameEmbedder embedder, IReadOnlyList<Mat> images) => _ = embedder.Embed(images);

    /// <summary>
    /// The resize into the model's input alone (the work before each CNN call), over the preloaded frames in full
    /// batches: on one thread, then spread over <see cref="FrameEmbedder.ResizeThreads"/> as serving does. At least
    /// 200 frames each (the frames again as needed), after one warm-up batch.
    /// </summary>
    private static ResizeResult MeasureResize(FrameEmbedder embedder, IReadOnlyList<Mat> frames, CancellationToken ct)
    {
        var served = embedder.ResizeThreads;
        double Fps(int threads)
        {
            embedder.ResizeThreads = threads;
            embedder.Prepare(frames.Take(embedder.MaxBatch).ToList());
            var done = 0;
            var started = Stopwatch.GetTimestamp();
            while (done < Math.Max(200, frames.Count))
            {
                foreach (var chunk in frames.Chunk(embedder.MaxBatch))
                {
                    ct.ThrowIfCancellationRequested();
                    done += embedder.Prepare(chunk);
                }
            }
            return done / Stopwatch.GetElapsedTime(started).TotalSeconds;
        }
        try
        {
            var single = Fps(1);
            var parallel = Fps(served);
            return new ResizeResult(single, parallel, served == 0 ? Environment.ProcessorCount : served);
        }
        finally
        {
            embedder.ResizeThreads = served;
        }
    }

    /// <summary>Frames per second of the resize into the model's input on one thread and on <paramref name="Threads"/>.</summary>
    public sealed record ResizeResult(double SingleThreadFps, double ParallelFps, int Threads)
    {
        public double Speedup => ParallelFps / SingleThreadFps;
    }

    /// <summary>
    /// The capacity search: N copies of the video played as live cameras at 10 fps (frames a stream cannot take in time
    /// are dropped, as from a camera) through one shared CNN as <c>edge run</c> builds them, for a few seconds; N
    /// doubles until a step fails (a stream's p99 frame age over 1 s, or a dropped frame), then the gap is halved.
    /// </summary>
    private static async Task<CapacityResult> CapacityAsync(EdgeContext context, ModelSettings settings, string video, int seconds,
        Microsoft.Extensions.Logging.ILogger logger, CancellationToken ct)
    {
        var service = context.Get<Edge.Host.Service.ServiceOptions>();
        await using var shared = ModelCatalog.OpenShared(settings, service.MaxBatch, service.BatchWindowMs, context.LoggerFactory);
        // A file at 10 fps or less replays at its own rate; a faster one is thinned to 10 fps as a camera's would be.
        double fileFps;
        using (var probe = new OpenCvSharp.VideoCapture(video))
        {
            fileFps = probe.Fps;
        }
        var streamFps = fileFps is > 0 and <= CapacityStreamFps + 0.5 ? fileFps : CapacityStreamFps;
        var capture = new CaptureOptions { TargetFps = fileFps <= 0 || streamFps < fileFps ? streamFps : 0, MaxFrames = (long)Math.Round(seconds * streamFps) };
        var steps = new List<CapacityStep>();
        // Warm-up: one short stream, so the first step does not pay for the CNN's first calls.
        await RunLiveAsync(1, new CaptureOptions { MaxFrames = 10 }, SourceMode.File).ConfigureAwait(false);

        async Task<CapacityStep> RunLiveAsync(int count, CaptureOptions options, SourceMode mode)
        {
            var built = new List<StreamAssembly>();
            try
            {
                AddStreams(context, shared, video, "live", count, options, mode, built);
                var reports = await Task.WhenAll(built.Select(s => s.RunAsync(ct))).ConfigureAwait(false);
                var worst = reports.Max(r => r.FrameAgeP99Ms);
                // Frames a replay skipped to keep its clock count as dropped: a camera would have dropped them.
                var dropped = reports.Sum(r => r.FramesDropped) + built.Sum(b => (b.Source as Edge.Capture.VideoCaptureSource)?.SkippedFrames ?? 0);
                var processed = reports.Sum(r => r.FramesProcessed);
                var offered = count * options.MaxFrames;
                return new CapacityStep(count, worst <= CapacityMaxAgeMs && dropped == 0 && processed == offered, worst, dropped, processed, offered);
            }
            finally
            {
                foreach (var stream in built)
                {
                    await stream.DisposeAsync().ConfigureAwait(false);
                }
            }
        }

        async Task<bool> Try(int count)
        {
            var step = await RunLiveAsync(count, capture, SourceMode.FileAsLive).ConfigureAwait(false);
            steps.Add(step);
            logger.LogInformation("capacity: {Streams} live streams at {Fps:0.#} fps: {Verdict} (worst p99 frame age {Age:0} ms, {Dropped} dropped, {Processed} of {Offered} frames processed)",
                count, streamFps, step.Holds ? "hold" : "do not hold", step.WorstAgeP99Ms, step.Dropped, step.Processed, step.Offered);
            return step.Holds;
        }

        const int most = 1024;
        var (held, failed) = (0, 0);
        for (var n = 1; n <= most; n *= 2)
        {
            if (await Try(n).ConfigureAwait(false))
            {
                held = n;
            }
            else
            {
                failed = n;
                break;
            }
        }
        while (failed > 0 && failed - held > 1)
        {
            var middle = (held + failed) / 2;
            if (await Try(middle).ConfigureAwait(false))
            {
                held = middle;
            }
            else
            {
                failed = middle;
            }
        }
        return new CapacityResult(held, streamFps, seconds, CapacityMaxAgeMs, steps);
    }

    /// <summary>
    /// Builds <paramref name="count"/> streams of the video on the shared CNN as <c>edge run</c> builds its streams (each
    /// stream's batch at most the shared one's, no object stage) into <paramref name="built"/>, which the caller disposes.
    /// </summary>
    private static void AddStreams(EdgeContext context, ModelCatalog shared, string video, string prefix, int count, CaptureOptions capture,
        SourceMode mode, List<StreamAssembly> built)
    {
        var service = context.Get<Edge.Host.Service.ServiceOptions>();
        var pipeline = context.Get<PipelineOptions>();
        for (var i = 0; i < count; i++)
        {
            built.Add(StreamAssembly.Build(new StreamSpec
            {
                Source = video,
                StreamId = $"{prefix}{i + 1}",
                Mode = mode,
                Capture = capture,
                Pipeline = new PipelineOptions
                {
                    BatchSize = Math.Min(pipeline.BatchSize, service.MaxBatch),
                    BatchTimeoutMs = pipeline.BatchTimeoutMs,
                    CaptureQueue = pipeline.CaptureQueue,
                    ResultQueue = pipeline.ResultQueue,
                },
                ObjectStage = false,
            }, shared, context.LoggerFactory));
        }
    }

    /// <summary>
    /// <paramref name="count"/> streams of the video at once (every frame, as files), each built as <c>edge run</c> builds
    /// a stream on the service's shared CNN (batches across streams up to <c>Service:MaxBatch</c>, waiting at most
    /// <c>Service:BatchWindowMs</c>); the aggregate is all their frames over the wall time of the whole run.
    /// </summary>
    private static async Task<StreamsResult> StreamsAsync(EdgeContext context, ModelSettings settings, string video, CaptureOptions capture,
        int count, double inferenceFps, CancellationToken ct)
    {
        var service = context.Get<Edge.Host.Service.ServiceOptions>();
        await using var shared = ModelCatalog.OpenShared(settings, service.MaxBatch, service.BatchWindowMs, context.LoggerFactory);
        var built = new List<StreamAssembly>();
        try
        {
            AddStreams(context, shared, video, "bench", count, capture, SourceMode.File, built);
            var started = Stopwatch.GetTimestamp();
            var reports = await Task.WhenAll(built.Select(s => s.RunAsync(ct))).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            var embedder = shared.Shared!;
            return new StreamsResult(count, service.MaxBatch, reports.Sum(r => r.FramesProcessed) / seconds,
                [.. reports.Select(r => r.FramesProcessed / seconds)], embedder.Calls == 0 ? 0 : embedder.Frames / (double)embedder.Calls, inferenceFps,
                reports.Sum(r => r.FramesProcessed), embedder.Frames, embedder.Calls);
        }
        finally
        {
            foreach (var stream in built)
            {
                await stream.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// The anomaly model alone over the frames' features (embedding, and grid when it reads one), each frame's window
    /// run on its own as the temporal stage runs it for one stream; frames per second after one warm-up window. For a
    /// model that reads the cells' optical flow the flow is measured in the timed loop too: it is the model's cost,
    /// although a stream measures it in its CNN stage. Also the process's CPU time per frame over the same loop.
    /// </summary>
    private static async Task<(double Fps, double CpuMsPerFrame)> TemporalFpsAsync(ModelCatalog models, string path, List<Mat> frames, CancellationToken ct)
    {
        var model = ModelCatalog.OpenWindowModel(models.Settings.Models.Resolve(path), models.FrameModel, models.Settings.Models, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        try
        {
            if (!model.IsAnomaly)
            {
                throw new ModelException(ModelError.Invalid, $"{path} is not an anomaly model");
            }
            var embedder = models.FrameModel;
            var features = new List<float[]>();
            foreach (var chunk in frames.Chunk(embedder.MaxBatch))
            {
                var size = embedder.EmbeddingSize;
                var embeddings = embedder.EmbedWithGrid(chunk, out var grids).ToArray();
                var gridSize = model.ReadsGrid ? grids.Length / chunk.Length : 0;
                var gridArray = grids.ToArray();
                for (var i = 0; i < chunk.Length; i++)
                {
                    features.Add([.. embeddings.AsSpan(i * size, size), .. gridArray.AsSpan(i * gridSize, gridSize)]);
                }
            }
            var window = model.InputFrames;
            if (features.Count < window + 1)
            {
                throw new ModelException(ModelError.Invalid, $"{features.Count} frames are too few for windows of {window}");
            }
            // One buffer filled per window, as the temporal stage fills its stream's buffer from its ring.
            var buffer = new float[window * model.FeatureSize];
            using var cellFlow = model.ReadsFlow && embedder.Grid is { } grid ? new CellFlow(grid.Height, grid.Width) : null;
            var flows = new float[features.Count][];
            float[] Window(int end)
            {
                flows[end] = cellFlow?.Measure(frames[end]) ?? [];
                for (var f = 0; f < window; f++)
                {
                    var at = end - window + 1 + f;
                    features[at].CopyTo(buffer, f * model.FeatureSize);
                    flows[at].CopyTo(buffer, f * model.FeatureSize + features[at].Length);
                }
                return buffer;
            }
            for (var end = 0; end < window - 1; end++)
            {
                flows[end] = cellFlow?.Measure(frames[end]) ?? [];
            }
            await model.RunWithCellsAsync(Window(window - 1), 1, ct).ConfigureAwait(false);
            var started = Stopwatch.GetTimestamp();
            var cpuStarted = Environment.CpuUsage.TotalTime;
            for (var end = window; end < features.Count; end++)
            {
                await model.RunWithCellsAsync(Window(end), 1, ct).ConfigureAwait(false);
            }
            var timed = features.Count - window;
            return (timed / Stopwatch.GetElapsedTime(started).TotalSeconds, (Environment.CpuUsage.TotalTime - cpuStarted).TotalMilliseconds / timed);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
        }
    }



    private static (int Frames, double Seconds) Decode(string video, CaptureOptions capture, CancellationToken ct)
    {
        using var source = FrameSources.Open(video, capture);
        using var pool = new FramePool(2);
        var started = Stopwatch.GetTimestamp();
        var count = 0;
        while (source.Read(pool, ct) is { } frame)
        {
            frame.Dispose();
            count++;
        }
        return (count, Stopwatch.GetElapsedTime(started).TotalSeconds);
    }

    /// <summary>Decodes the frames into Mats the caller owns and must dispose.</summary>
    private static List<Mat> Preload(string video, CaptureOptions capture, CancellationToken ct)
    {
        using var source = FrameSources.Open(video, capture);
        using var pool = new FramePool(2);
        var frames = new List<Mat>();
        while (source.Read(pool, ct) is { } frame)
        {
            using (frame)
            {
                frames.Add(frame.Image.Clone());
            }
        }
        return frames;
    }

    private static void Print(Result r)
    {
        var c = CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded).AddColumns("measure", "fps");
        table.AddRow("decode only", r.DecodeFps.ToString("0.0", c));
        table.AddRow($"inference only (batch {r.BatchSize}, {r.Provider}, {r.Threads} threads)", r.InferenceFps.ToString("0.0", c));
        table.AddRow("end to end", r.EndToEndFps.ToString("0.0", c));
        if (r.TemporalFps is { } temporal)
        {
            table.AddRow("temporal stage alone (anomaly model, one frame at a time)", temporal.ToString("0.0", c));
        }
        AnsiConsole.Write(table);
        AnsiConsole.WriteLine(string.Create(c,
            $"end-to-end / min(decode-only, inference-only) = {r.EndToEndFps:0.0} / {Math.Min(r.DecodeFps, r.InferenceFps):0.0} = {r.Ratio:0.00}"));
        if (r.Streams is { } many)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"{many.Streams} streams at once on one shared CNN (batches up to {many.MaxBatch}, {many.FramesPerCall:0.0} frames a call): {many.AggregateFps:0.0} fps in all, per stream {string.Join(" / ", many.PerStreamFps.Select(f => f.ToString("0.0", c)))}"));
            AnsiConsole.WriteLine(string.Create(c,
                $"aggregate end-to-end / inference-only = {many.AggregateFps:0.0} / {many.InferenceFps:0.0} = {many.Ratio:0.00}"));
        }
        if (r.Events is { } e)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"with the anomaly model and its events ({e.Events} raised): {e.Fps:0.0} fps end to end; sinks time per frame / CNN time per frame = {e.SinksP50Ms:0.00} ms (p99 {e.SinksP99Ms:0.00}) / {e.CnnMsPerFrame:0.00} ms = {e.SinksShare:0.000}"));
            AnsiConsole.WriteLine(string.Create(c,
                $"end to end with the anomaly model and its events / without = {e.Fps:0.0} / {r.EndToEndFps:0.0} fps = {e.Fps / r.EndToEndFps:0.00}"));
        }
        if (r.Capacity is { } capacity)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"capacity: {capacity.Streams} live streams at {capacity.StreamFps:0.#} fps on {r.Provider} (every stream's p99 frame age ≤ {capacity.MaxAgeMs:0} ms, no drops; {capacity.SecondsPerStep} s a step: {string.Join(", ", capacity.Steps.Select(st => $"{st.Streams} {(st.Holds ? "hold" : "do not")} ({st.WorstAgeP99Ms:0} ms, {st.Dropped} dropped)"))})"));
        }
        if (r.Resize is { } rs)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"resize into the model's input alone: {rs.ParallelFps:0} frames/s on {rs.Threads} threads / {rs.SingleThreadFps:0} on one = {rs.Speedup:0.00} (inference-only: {r.InferenceFps:0.0})"));
        }
        if (r.Tracking is { } tracking)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"tracker and zones at {tracking.Tracks} tracks, time per frame / CNN time per frame = {tracking.TotalUsPerFrame / 1000:0.000} ms / {1000 / r.InferenceFps:0.00} ms = {r.TrackingShare:0.0000}"));
            if (tracking.ActivityUsPerFrame is { } activityUs)
            {
                AnsiConsole.WriteLine(string.Create(c,
                    $"activity per track at {tracking.Tracks} tracks ({tracking.ActivityWindows} windows in {tracking.ActivityCalls} calls), time per frame / CNN time per frame = {activityUs / 1000:0.000} ms / {1000 / r.InferenceFps:0.00} ms = {r.TrackActivityShare:0.0000}"));
            }
        }
        if (r.TemporalShare is { } share)
        {
            AnsiConsole.WriteLine(string.Create(c,
                $"temporal stage time per frame / CNN time per frame = {1000 / r.TemporalFps!.Value:0.00} ms / {1000 / r.InferenceFps:0.00} ms = {share:0.000}"));
            AnsiConsole.WriteLine(string.Create(c,
                $"temporal stage CPU time per frame / CNN CPU time per frame = {r.TemporalCpuMsPerFrame:0.00} ms / {r.InferenceCpuMsPerFrame:0.00} ms = {r.TemporalCpuShare:0.000}"));
        }
    }
}
