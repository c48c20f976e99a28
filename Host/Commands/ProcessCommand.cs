using System.Text.Json;
using Edge.Capture;
using Edge.Host.Console;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Commands;

/// <summary><c>edge process</c>: runs one source through the pipeline and writes its results to a folder.</summary>
public static class ProcessCommand
{
    public const string SummaryFile = "summary.json";

    private static readonly JsonSerializerOptions s_json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
    };

    /// <param name="Realtime">Play a file at its own frame rate, as a camera would deliver it (drops when behind).</param>
    public sealed record Arguments(string Input, string? Out, bool Annotate, bool Realtime);

    public static async Task<int> RunAsync(EdgeContext context, Arguments args, CancellationToken stop)
    {
        var logger = context.CreateLogger("Edge.Process");
        using var source = FrameSources.Open(args.Input, context.Get<CaptureOptions>(), replayAsLive: args.Realtime,
            logger: context.CreateLogger("Edge.Capture"));
        var info = source.Info;
        logger.LogInformation("Opened {Location}: {Kind}, {Width}x{Height}, {Fps:0.##} fps, {Frames} frames, {Backend}{Live}",
            info.Location, info.Kind, info.Width, info.Height, info.Fps, info.FrameCount?.ToString() ?? "unknown",
            info.Backend, info.IsLive ? ", live" : "");

        var modelPath = context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel);
        using var embedder = FrameEmbedder.Open(modelPath, context.Get<ModelOptions>(), context.Get<PipelineOptions>().BatchSize, context.CreateLogger("Edge.Models"));
        using var anomaly = OpenSequenceModel(context, context.Get<AnalysisOptions>().AnomalyModel, "anomaly", embedder.EmbeddingSize, logger);
        using var activity = OpenSequenceModel(context, context.Get<AnalysisOptions>().ActivityModel, "activity", embedder.EmbeddingSize, logger);
        var temporal = anomaly is null && activity is null ? null : new TemporalAnalyzer(anomaly, activity);
        using var head = OpenObjectHead(context, embedder.EmbeddingSize, logger);
        using var objects = head is null ? null : new ObjectDetector(embedder, head, context.Get<ObjectOptions>());
        using var output = new OutputDirectory(args.Out ?? Path.Combine("out", source.StreamId));
        var startedUtc = DateTimeOffset.UtcNow;
        // Delivery runs beside the pipeline (events go out as they end) and also sends what earlier runs left pending.
        using var outbox = context.Get<DeliveryOptions>().AnyEnabled ? new EventOutbox(context.Get<DeliveryOptions>()) : null;
        await using var delivery = outbox is null ? null : new EventDelivery(outbox, context.Get<DeliveryOptions>(), context.CreateLogger("Edge.Delivery"));
        if (delivery is not null)
        {
            await delivery.StartAsync(stop).ConfigureAwait(false);
        }

        var expected = ExpectedFrames(info, context.Get<CaptureOptions>());
        var sinks = new List<IResultSink> { new ResultFilesSink(output, embedder.EmbeddingSize) };
        var events = temporal is null ? null
            : new EventsSink(output.Staging, new SqliteEventStore(output.StagingPath(SqliteEventStore.FileName), outbox), context.Get<Edge.Pipeline.Events.EventRules>(),
                info.IsLive ? info.Fps : info.Fps / Strides.For(context.Get<CaptureOptions>(), info.Fps), ownsStore: true);
        if (events is not null)
        {
            sinks.Add(events);
        }
        if (args.Annotate)
        {
            sinks.Add(new AnnotatedVideoSink(output, info.IsLive ? info.Fps : info.Fps / Math.Max(1, Strides.For(context.Get<CaptureOptions>(), info.Fps))));
        }
        PipelineReport report;
        try
        {
            using var pipeline = new FramePipeline(source, embedder, sinks, context.Get<PipelineOptions>(), context.CreateLogger("Edge.Pipeline"), temporal, objects);
            report = await ProgressView.WatchAsync(pipeline, expected, source.StreamId, pipeline.RunAsync(stop), logger).ConfigureAwait(false);
        }
        finally
        {
            foreach (var sink in sinks)
            {
                await sink.DisposeAsync().ConfigureAwait(false);
            }
        }

        var deliveryCounts = delivery is null ? null : await FinishDeliveryAsync(delivery, context.Get<DeliveryOptions>(), stop).ConfigureAwait(false);

        var complete = !report.StoppedEarly || info.IsLive;
        var summary = new
        {
            input = info.Location,
            streamId = source.StreamId,
            complete,
            stoppedEarly = report.StoppedEarly,
            framesRead = report.FramesRead,
            framesProcessed = report.FramesProcessed,
            framesDropped = report.FramesDropped,
            elapsedSeconds = Math.Round(report.ElapsedSeconds, 3),
            fps = Math.Round(report.Fps, 2),
            frameAgeP50Ms = Math.Round(report.FrameAgeP50Ms, 1),
            frameAgeP99Ms = Math.Round(report.FrameAgeP99Ms, 1),
            source = info,
            model = new { path = modelPath, embedder.Manifest.Name, embedder.EmbeddingSize, provider = report.Provider, fallbackReason = embedder.FallbackReason },
            objects = report.Objects is { } o
                ? new { headModel = head!.Manifest.Name, labels = head.Labels, o.Gating, context.Get<ObjectOptions>().EveryNthFrame, o.Frames, cropRuns = o.Runs, skippedInferences = o.Skipped, o.Crops, objects = o.Objects }
                : null,
            analysis = new { anomalyModel = anomaly?.Manifest.Name, activityModel = activity?.Manifest.Name, sequenceRuns = temporal?.Runs ?? 0, events = events?.Events.Count },
            report.BatchSize,
            report.PoolSize,
            report.PoolPeak,
            stages = report.Stages,
            delivery = deliveryCounts,
            files = new[] { ResultFilesSink.FramesFile, ResultFilesSink.EmbeddingsFile }
                .Concat(events is null ? [] : [EventsSink.EventsFile, SqliteEventStore.FileName])
                .Concat(args.Annotate ? [AnnotatedVideoSink.VideoFile] : []).ToArray(),
            startedUtc,
            finishedUtc = DateTimeOffset.UtcNow,
        };
        await File.WriteAllTextAsync(output.StagingPath(SummaryFile), JsonSerializer.Serialize(summary, s_json), CancellationToken.None).ConfigureAwait(false);
        output.Commit();
        logger.LogInformation("{Stream}: {Read} frames read, {Processed} processed, {Dropped} dropped, {Fps:0.0} fps; results in {Output}",
            source.StreamId, report.FramesRead, report.FramesProcessed, report.FramesDropped, report.Fps, output.Path);
        SummaryView.Print(report, output.Path, deliveryCounts);
        return complete ? ExitCodes.Ok : ExitCodes.Interrupted;
    }

    /// <summary>
    /// Gives pending events up to Delivery:DrainTimeoutMs to go out (none after Ctrl+C), then stops delivery; what is
    /// still pending stays in the outbox for the next run or the service.
    /// </summary>
    private static async Task<IReadOnlyList<DeliveryCounts>> FinishDeliveryAsync(EventDelivery delivery, DeliveryOptions options, CancellationToken stop)
    {
        if (!stop.IsCancellationRequested)
        {
            await delivery.WaitForDeliveryAsync(TimeSpan.FromMilliseconds(options.DrainTimeoutMs), stop).ConfigureAwait(false);
        }
        await delivery.StopAsync(CancellationToken.None).ConfigureAwait(false);
        return delivery.Counts();
    }

    /// <summary>
    /// Opens the object stage's head; a missing one is an error when Objects:Required is set, else the object stage is
    /// off and says so once.
    /// </summary>
    internal static EmbeddingClassifier? OpenObjectHead(EdgeContext context, int embeddingSize, ILogger logger)
    {
        if (!context.Get<ObjectOptions>().Enabled)
        {
            return null;
        }
        var path = context.Get<ModelOptions>().Resolve(context.Get<ObjectOptions>().HeadModel);
        if (!File.Exists(path) && !context.Get<ObjectOptions>().Required)
        {
            logger.LogWarning("The object head {Path} was not found: the object stage is off (`edge models prepare` builds the default one)", path);
            return null;
        }
        var head = EmbeddingClassifier.Open(path, embeddingSize, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        logger.LogInformation("Object stage: head {Name} ({Labels}), gating {Gating}{Nth}, at most {Max} crops a frame",
            head.Manifest.Name, string.Join(", ", head.Labels), context.Get<ObjectOptions>().Gating,
            context.Get<ObjectOptions>().Gating == ObjectGating.EveryNth ? $" (every {context.Get<ObjectOptions>().EveryNthFrame} frames)" : "", context.Get<ObjectOptions>().MaxObjects);
        return head;
    }

    /// <summary>
    /// Opens a configured sequence model; a missing one is an error when Analysis:Required is set, else the stage runs
    /// without it and says so once.
    /// </summary>
    internal static SequenceModel? OpenSequenceModel(EdgeContext context, string configured, string role, int embeddingSize, ILogger logger)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return null;
        }
        var path = context.Get<ModelOptions>().Resolve(configured);
        if (!File.Exists(path) && !context.Get<AnalysisOptions>().Required)
        {
            logger.LogWarning("The {Role} model {Path} was not found: the temporal stage runs without it", role, path);
            return null;
        }
        var model = SequenceModel.Open(path, embeddingSize, context.Get<ModelOptions>(), context.CreateLogger("Edge.Models"));
        if (model.IsAnomaly != (role == "anomaly"))
        {
            model.Dispose();
            throw new ModelException(ModelError.Invalid, $"{path} is a '{model.Manifest.Kind}' model, configured as the {role} model");
        }
        logger.LogInformation("Temporal stage: {Role} model {Name} ({Cell}, window {Window}, every {Stride} frames)",
            role, model.Manifest.Name, model.Manifest.Source, model.Manifest.WindowLength, model.Manifest.WindowStride);
        return model;
    }

    /// <summary>Frames a file run will produce, for the progress bar; null for live sources.</summary>
    public static long? ExpectedFrames(SourceInfo info, CaptureOptions options)
    {
        if (info.IsLive || info.FrameCount is not { } count)
        {
            return options.MaxFrames > 0 && !info.IsLive ? options.MaxFrames : null;
        }
        var stride = Strides.For(options, info.Fps);
        var frames = (count + stride - 1) / stride;
        return options.MaxFrames > 0 ? Math.Min(frames, options.MaxFrames) : frames;
    }
}
