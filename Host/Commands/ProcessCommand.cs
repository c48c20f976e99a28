using System.Text.Json;
using Edge.Capture;
using Edge.Host.Console;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Models;
using Edge.Pipeline.Composition;
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
        var capture = context.Get<CaptureOptions>();
        var pipelineOptions = context.Get<PipelineOptions>();
        var analysis = context.Get<AnalysisOptions>();
        var deliveryOptions = context.Get<DeliveryOptions>();
        await using var models = ModelCatalog.Open(
            new ModelSettings(context.Get<ModelOptions>(), analysis, context.Get<ObjectOptions>()), pipelineOptions.BatchSize, context.LoggerFactory);
        var streamId = FrameSources.StreamIdFor(args.Input);
        using var output = new OutputDirectory(args.Out ?? Path.Combine("out", streamId));
        var startedUtc = DateTimeOffset.UtcNow;
        // Delivery runs beside the pipeline (events go out as they end) and also sends what earlier runs left pending.
        using var outbox = deliveryOptions.AnyEnabled ? new EventOutbox(deliveryOptions) : null;
        await using var delivery = outbox is null ? null : new EventDelivery(outbox, deliveryOptions, context.CreateLogger("Edge.Delivery"));
        if (delivery is not null)
        {
            await delivery.StartAsync(stop).ConfigureAwait(false);
        }
        var spec = new StreamSpec
        {
            Source = args.Input,
            Mode = args.Realtime ? SourceMode.FileAsLive : SourceMode.File,
            Policy = SourcePolicy.ForCommandLine(context.Get<SourcesOptions>()),
            Capture = capture,
            Pipeline = pipelineOptions,
            AnomalyModel = analysis.AnomalyModel,
            ActivityModel = analysis.ActivityModel,
            Events = context.Get<EventRules>(),
            Tracking = context.Get<Edge.Pipeline.Tracking.TrackingOptions>(),
            Zones = context.Get<Edge.Pipeline.Zones.ZoneLayoutOptions>(),
            Outputs = new StreamOutputs
            {
                Results = output,
                AnnotatedVideo = args.Annotate ? output : null,
                Events = new EventOutput(output.Staging, () => new SqliteEventStore(output.StagingPath(SqliteEventStore.FileName), outbox), OwnsStore: true),
            },
        };
        await using var stream = StreamAssembly.Build(spec, models, context.LoggerFactory);
        var info = stream.Source.Info;
        logger.LogInformation("Opened {Location}: {Kind}, {Width}x{Height}, {Fps:0.##} fps, {Frames} frames, {Backend}{Live}",
            info.Location, info.Kind, info.Width, info.Height, info.Fps, info.FrameCount?.ToString() ?? "unknown",
            info.Backend, info.IsLive ? ", live" : "");
        var report = await ProgressView.WatchAsync(stream.Pipeline, ExpectedFrames(info, capture), stream.StreamId, stream.RunAsync(stop), logger).ConfigureAwait(false);

        var deliveryCounts = delivery is null ? null : await FinishDeliveryAsync(delivery, deliveryOptions, stop).ConfigureAwait(false);

        var complete = !report.StoppedEarly || info.IsLive;
        var embedder = models.FrameModel;
        var head = stream.ObjectHead;
        var temporal = stream.Temporal;
        var events = stream.Events;
        var summary = new
        {
            input = info.Location,
            streamId = stream.StreamId,
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
            model = new { path = models.FrameModelPath, embedder.Manifest.Name, embedder.EmbeddingSize, provider = report.Provider, fallbackReason = embedder.FallbackReason },
            objects = report.Objects is { } o && stream.Objects is { } stage
                ? new { headModel = head?.Manifest.Name, detector = stage.DetectorPath is { } detectorPath ? Path.GetFileName(detectorPath) : null, labels = head?.Labels ?? stage.Labels, o.Gating, context.Get<ObjectOptions>().EveryNthFrame, o.Frames, cropRuns = o.Runs, skippedInferences = o.Skipped, o.Crops, objects = o.Objects, features = o.Features }
                : null,
            analysis = new
            {
                anomalyModel = models.SequenceModel(analysis.AnomalyModel, "anomaly")?.Manifest.Name,
                activityModel = models.SequenceModel(analysis.ActivityModel, "activity")?.Manifest.Name,
                sequenceRuns = temporal?.Runs ?? 0,
                events = events?.Events.Count,
            },
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
            stream.StreamId, report.FramesRead, report.FramesProcessed, report.FramesDropped, report.Fps, output.Path);
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
