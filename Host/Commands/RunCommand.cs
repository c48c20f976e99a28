using Edge.Pipeline.Delivery;
using Edge.Host.Service;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Host.Web;
using Edge.Capture;
using Edge.Models;
using Edge.Pipeline.Composition;
using Edge.Pipeline;
using Edge.Pipeline.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.AspNetCore.Builder;
using Spectre.Console;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge run</c>: the live service. Runs every stream of <c>Service:Streams</c> at once on one shared CNN, stores
/// events (SQLite, JSON lines, snapshots, clips) under <c>Service:DataDirectory</c>, delivers them when delivery is
/// configured, keeps them within the Retention section's age and disk budget, and runs until SIGTERM or Ctrl+C, which
/// drains every stream and exits 0. Each stream runs under supervision (a fault restarts it with backoff). SIGHUP
/// re-reads the config and, as one transaction, adds, removes or restarts only the streams whose definition changed;
/// a SIGHUP during start-up is applied once start-up is done.
/// </summary>
public static class RunCommand
{
    public const string EventsFolderName = "events";

    /// <param name="duration">Stop by itself after this long (benchmarks, smoke tests); null runs until stopped.</param>
    /// <param name="reloads">SIGHUPs, registered by the caller before anything else (null: this call registers them).</param>
    public static async Task<int> RunAsync(EdgeContext context, TimeSpan? duration, CancellationToken signal, ReloadRequests? reloads = null)
    {
        NativeHeap.LimitArenas();
        using var ownReloads = reloads is null ? new ReloadRequests() : null;
        reloads ??= ownReloads!;
        using var timed = CancellationTokenSource.CreateLinkedTokenSource(signal);
        if (duration is { } limit)
        {
            timed.CancelAfter(limit);
        }
        var stop = timed.Token;
        var logger = context.CreateLogger("Edge.Run");
        var options = context.Get<ServiceOptions>();
        logger.LogInformation("Starting: {Count} stream(s) configured, data in {Folder}", options.Streams.Count, Path.GetFullPath(options.DataDirectory));
        if (SignalMask.BlockedAtStart.Count > 0)
        {
            logger.LogWarning("Edge was started with {Signals} blocked (by the process that started it); unblocked, so reloads and stops reach it",
                string.Join(", ", SignalMask.BlockedAtStart));
        }
        if (SignalMask.HangUpIgnoredAtStart)
        {
            logger.LogWarning("SIGHUP is ignored (Edge was started under nohup, or by a process that ignores it): `kill -HUP` will not reload the configuration; start Edge from a service manager or with setsid instead of nohup to have reloads");
        }
        var eventsFolder = Path.Combine(options.DataDirectory, EventsFolderName);
        var policy = SourcePolicy.ForService(context.Get<SourcesOptions>());
        foreach (var stream in options.Streams)
        {
            try
            {
                var allowed = policy.Check(stream.Source);
                if (allowed.Kind == SourceKind.File && !File.Exists(allowed.OpenPath))
                {
                    throw new ConfigException($"Service:Streams: the source of stream '{stream.Id}' is not a file that exists, a camera or a URL: {allowed.Location}");
                }
            }
            catch (CaptureException ex)
            {
                throw new ConfigException($"Service:Streams: stream '{stream.Id}': {ex.Message}", ex);
            }
        }

        try
        {
            Directory.CreateDirectory(eventsFolder);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot create the service's data folder {eventsFolder}: {ex.Message}", ex);
        }
        // The event store and the outbox first: a file that cannot be opened is one error line (exit 11) before the
        // models load.
        var deliveryOptions = context.Get<DeliveryOptions>();
        using var outbox = deliveryOptions.AnyEnabled ? new EventOutbox(deliveryOptions) : null;
        using var store = new SqliteEventStore(Path.Combine(options.DataDirectory, SqliteEventStore.FileName), outbox);
        var retention = new EventRetention(store, eventsFolder, outbox, context.Get<RetentionOptions>(), context.CreateLogger("Edge.Retention"));
        retention.CleanOrphans();
        using var instruments = new EdgeInstruments();
        var previews = new PreviewHub();
        await using var models = ModelCatalog.OpenShared(
            new ModelSettings(context.Get<ModelOptions>(), context.Get<AnalysisOptions>(), context.Get<ObjectOptions>()),
            options.MaxBatch, options.BatchWindowMs, context.LoggerFactory, instruments.RecordInference);
        var embedder = models.Shared!;
        await using var delivery = outbox is null ? null : new EventDelivery(outbox, deliveryOptions, context.CreateLogger("Edge.Delivery"));
        var web = context.Get<WebOptions>();
        var shared = StreamServiceContext.From(context, models, store, eventsFolder, instruments,
            web.Enabled ? new PreviewOutput(previews, web.PreviewIntervalMs, web.PreviewQuality) : null);
        var service = new StreamService(shared);
        using var metrics = web.Enabled ? new EdgeMetrics(instruments) : null;
        WebApplication? app = null;
        try
        {
            if (delivery is not null)
            {
                await delivery.StartAsync(stop).ConfigureAwait(false);
            }
            if (web.Enabled)
            {
                var token = WebToken.Resolve(web, options.DataDirectory, out var createdTokenFile);
                if (createdTokenFile is not null)
                {
                    // Shown once, on the console only (never in the log file), as Frigate shows its first password.
                    System.Console.Error.WriteLine($"API token (generated now, kept in {Path.GetFullPath(createdTokenFile)}, mode 0600): {token.Value}");
                    System.Console.Error.WriteLine("Send it as 'Authorization: Bearer <token>' to add or remove streams; the dashboard asks for it when it needs it.");
                    logger.LogInformation("API token generated into {File}", Path.GetFullPath(createdTokenFile));
                }
                app = EdgeWeb.Build(web, token, context.Get<ModelOptions>().Directory, service, store, eventsFolder, metrics!, previews, context.LoggerFactory);
                try
                {
                    await app.StartAsync(stop).ConfigureAwait(false);
                }
                catch (IOException ex)
                {
                    throw new ConfigException($"the web server cannot listen on {web.Urls}: {ex.Message}", ex);
                }
                logger.LogInformation("Dashboard, REST API and /metrics on {Urls}", string.Join(", ", app.Urls));
            }
            foreach (var stream in options.Streams)
            {
                await StartStreamAsync(service, stream.ToDefinition(), stop).ConfigureAwait(false);
            }
            logger.LogInformation("Edge is running {Count} stream(s) on {Provider}, batch up to {Batch} frames across streams; data in {Folder}",
                options.Streams.Count, embedder.Provider, embedder.MaxBatch, Path.GetFullPath(options.DataDirectory));
            if (options.Streams.Count == 0)
            {
                logger.LogWarning("No streams configured (Service:Streams)");
            }
            if (reloads.Received > 0)
            {
                logger.LogInformation("SIGHUP during start-up: the configuration is read again now");
            }
            var keeping = retention.RunAsync(stop);
            var reloading = ReloadUntilStoppedAsync(context, service, reloads, logger, stop);
            var watching = service.WatchModelsAsync(stop);
            await ReportUntilStoppedAsync(service, embedder, logger, stop).ConfigureAwait(false);
            await Task.WhenAll(keeping, reloading, watching).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // SIGTERM, Ctrl+C or the end of --for before start-up was done (delivery, the web server or a stream
            // starting): a normal stop too, drained below, not a failure.
            logger.LogInformation("Stopped during start-up");
        }
        finally
        {
            // The web server stops first: no request may reach the service (add a stream, read a status) while it is
            // being disposed.
            if (app is not null)
            {
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
            }
            logger.LogInformation("Stopping: draining {Count} stream(s)", service.Streams.Count);
            var last = service.Streams;
            var seconds = service.ElapsedSeconds;
            await service.DisposeAsync().ConfigureAwait(false);
            PrintSummary(last, seconds, embedder);
            if (delivery is not null)
            {
                await delivery.StopAsync(CancellationToken.None).ConfigureAwait(false);
            }
        }
        return ExitCodes.Ok;
    }

    /// <summary>
    /// Per stream: the source's own rate, what it offered and what was processed (over the stream's whole run), and
    /// processed against the source's rate, which counts frames the source skipped to keep its clock as well as
    /// frames dropped before the CNN; drops, frame age at analysis (the last window), events, faults, reconnects.
    /// </summary>
    private static void PrintSummary(IReadOnlyList<StreamStatus> streams, IReadOnlyDictionary<string, double> seconds, SharedEmbedder embedder)
    {
        var c = System.Globalization.CultureInfo.InvariantCulture;
        var table = new Table().Border(TableBorder.Rounded)
            .AddColumns("stream", "state", "read", "processed", "dropped", "source fps", "offered", "processed", "proc/source",
                "age p50 ms", "age p99 ms", "events", "faults", "reconnects");
        foreach (var s in streams)
        {
            var elapsed = seconds.GetValueOrDefault(s.Id, 0);
            var offered = elapsed > 0 ? s.FramesRead / elapsed : 0;
            var processed = elapsed > 0 ? s.FramesProcessed / elapsed : 0;
            table.AddRow(s.Id, s.State.ToString(), s.FramesRead.ToString(c), s.FramesProcessed.ToString(c), s.FramesDropped.ToString(c),
                s.SourceFps > 0 ? s.SourceFps.ToString("0.0", c) : "-", offered.ToString("0.0", c), processed.ToString("0.0", c),
                s.SourceFps > 0 ? (processed / s.SourceFps).ToString("0.00", c) : "-",
                s.AgeP50Ms.ToString("0", c), s.AgeP99Ms.ToString("0", c), s.Events.ToString(c), s.Faults.ToString(c), s.Reconnects.ToString(c));
        }
        Spectre.Console.AnsiConsole.Write(table);
        Spectre.Console.AnsiConsole.WriteLine(string.Create(c,
            $"CNN: {embedder.Calls} calls for {embedder.Frames} frames ({(embedder.Calls == 0 ? 0 : embedder.Frames / (double)embedder.Calls):0.0} frames per call) on {embedder.Provider}{(embedder.Retried > 0 ? $"; {embedder.Retried} failed calls run again request by request" : "")}"));
    }

    /// <summary>
    /// Starts one configured stream at start-up. Its definition is checked (source policy, models): a bad one stops
    /// the service with its exit code, as any configuration error does; its set-up runs under supervision, so a
    /// stream that cannot be set up yet shows Faulted and is retried while the others run.
    /// </summary>
    private static async Task StartStreamAsync(StreamService service, StreamDefinition definition, CancellationToken stop)
    {
        try
        {
            await service.AddAsync(definition, checkSetUp: false, stop).ConfigureAwait(false);
        }
        catch (ArgumentException ex) when (ex.InnerException is ModelException model)
        {
            // A model that is missing or invalid (a manifest with windowStride 0) keeps its own exit code (8, 9).
            throw new ModelException(model.Error, $"Service:Streams: stream '{definition.Id}': {model.Message}", model);
        }
        catch (ArgumentException ex)
        {
            throw new ConfigException($"Service:Streams: stream '{definition.Id}': {ex.Message}", ex);
        }
    }

    /// <summary>Logs one line per stream every 30 s (state, fps, drops, frame age) until stopped.</summary>
    private static async Task ReportUntilStoppedAsync(StreamService service, SharedEmbedder embedder, ILogger logger, CancellationToken stop)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(30));
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                foreach (var s in service.Streams)
                {
                    logger.LogInformation("{Stream}: {State}, {Fps:0.0} fps processed of {Offered:0.0} offered ({Source:0.0} at the source), {Dropped} dropped, age p50 {P50:0} ms p99 {P99:0} ms, {Events} events, {Faults} faults{Learning}{Error}",
                        s.Id, s.State, s.Fps, s.OfferedFps, s.SourceFps, s.FramesDropped, s.AgeP50Ms, s.AgeP99Ms, s.Events, s.Faults,
                        s.Learning is null ? "" : $", {s.Learning}", s.LastError is null ? "" : $", last error: {s.LastError}");
                }
                logger.LogDebug("CNN: {Calls} calls, {Frames} frames ({PerCall:0.0} per call)", embedder.Calls, embedder.Frames,
                    embedder.Calls == 0 ? 0 : embedder.Frames / (double)embedder.Calls);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // SIGTERM, Ctrl+C or the end of --for: a normal stop.
        }
    }

    /// <summary>Applies reload requests (SIGHUP) one at a time, from the end of start-up until stopped.</summary>
    private static async Task ReloadUntilStoppedAsync(EdgeContext context, StreamService service, ReloadRequests reloads, ILogger logger, CancellationToken stop)
    {
        try
        {
            await foreach (var _ in reloads.Reader.ReadAllAsync(stop).ConfigureAwait(false))
            {
                await ReloadAsync(context, service, logger, stop).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Reads the config again and applies its streams as one transaction (<see cref="StreamService.ApplyAsync"/>):
    /// a config with an error, a definition that fails its checks or a stream that cannot be set up leaves every
    /// stream as it was, and says why.
    /// </summary>
    private static async Task ReloadAsync(EdgeContext context, StreamService service, ILogger logger, CancellationToken stop)
    {
        logger.LogInformation("SIGHUP: reading the configuration again");
        try
        {
            var options = EdgeConfiguration.Reload<Service.ServiceOptions>(context.ConfigPath, context.Overrides);
            var changes = await service.ApplyAsync([.. options.Streams.Select(s => s.ToDefinition())], stop).ConfigureAwait(false);
            logger.LogInformation("Config reloaded: {Count} stream(s); {Added} added, {Restarted} restarted, {Removed} removed, {Unchanged} unchanged",
                options.Streams.Count, changes.Added, changes.Restarted, changes.Removed, changes.Unchanged);
        }
        catch (Exception ex) when (ex is ConfigException or ArgumentException)
        {
            logger.LogError("Config reload refused, the running streams are unchanged: {Error}", ex.Message);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
