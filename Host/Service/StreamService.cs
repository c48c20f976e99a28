using System.Collections.Concurrent;
using Edge.Capture;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Pipeline;
using Edge.Models;
using Edge.Pipeline.Composition;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Service;

/// <summary>
/// What every stream of the service shares: the options streams are built from, the models (one frame model and one
/// session per sequence model, batched across streams), the source policy, the event store and where event files go,
/// metrics and previews. Owns none of them: the service's owner keeps them alive until every stream has stopped.
/// </summary>
public sealed class StreamServiceContext(ServiceOptions options, StreamDefaults defaults, ModelCatalog models, SqliteEventStore store,
    string eventsFolder, ILoggerFactory logs)
{
    public ServiceOptions Options { get; } = options;

    public StreamDefaults Defaults { get; } = defaults;

    public ModelCatalog Models { get; } = models;

    public SqliteEventStore Store { get; } = store;

    public string EventsFolder { get; } = eventsFolder;

    public ILoggerFactory Logs { get; } = logs;

    /// <summary>Frame ages and events for /metrics; null when nothing collects them.</summary>
    public Edge.Pipeline.Telemetry.EdgeInstruments? Metrics { get; init; }

    /// <summary>Where streams publish live previews; null for none.</summary>
    public PreviewOutput? Preview { get; init; }

    /// <summary>The service's parts from a verb's configuration.</summary>
    public static StreamServiceContext From(EdgeContext context, ModelCatalog models, SqliteEventStore store, string eventsFolder,
        Edge.Pipeline.Telemetry.EdgeInstruments? metrics = null, PreviewOutput? preview = null) =>
        new(context.Get<ServiceOptions>(), StreamDefaults.From(context), models, store, eventsFolder, context.LoggerFactory)
        {
            Metrics = metrics,
            Preview = preview,
        };
}

/// <summary>What a reload changed: streams added, restarted with a new definition, removed, and left running as they were.</summary>
public sealed record ReloadChanges(int Added, int Restarted, int Removed, int Unchanged);

/// <summary>The configured sections a stream of the service is built from when its definition does not say otherwise.</summary>
public sealed record StreamDefaults(CaptureOptions Capture, ReconnectOptions Reconnect, PipelineOptions Pipeline, AnalysisOptions Analysis,
    EventRules Events, SourcePolicy Policy, Edge.Pipeline.Tracking.TrackingOptions? Tracking = null, Edge.Pipeline.Zones.ZoneLayoutOptions? Zones = null)
{
    public static StreamDefaults From(EdgeContext context) => new(context.Get<CaptureOptions>(), context.Get<ReconnectOptions>(),
        context.Get<PipelineOptions>(), context.Get<AnalysisOptions>(), context.Get<EventRules>(),
        SourcePolicy.ForService(context.Get<SourcesOptions>()), context.Get<Edge.Pipeline.Tracking.TrackingOptions>(),
        context.Get<Edge.Pipeline.Zones.ZoneLayoutOptions>());
}

/// <summary>
/// The streams of <c>edge run</c>: starts, adds and removes <see cref="StreamRunner"/>s, each independent of the
/// others (a failing, faulted or reconnecting stream does not disturb the rest). Changes are serialised: one add,
/// removal or reload at a time. Owns the runners. Stream ids are exact (<see cref="StreamDefinition.IdComparer"/>) here
/// as in previews, metrics and events; two ids may not differ only in case. At most
/// <see cref="ServiceOptions.MaxStreams"/> streams run at once.
/// </summary>
public sealed class StreamService(StreamServiceContext shared) : IStreamRegistry, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, StreamRunner> _runners = new(StreamDefinition.IdComparer);
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly ILogger _logger = shared.Logs.CreateLogger("Edge.Service");

    public IReadOnlyList<StreamStatus> Streams => [.. _runners.Values.OrderBy(r => r.Definition.Id, StringComparer.Ordinal).Select(r => r.Status())];

    /// <summary>Seconds each stream has been running.</summary>
    public IReadOnlyDictionary<string, double> ElapsedSeconds =>
        _runners.ToDictionary(r => r.Key, r => r.Value.ElapsedSeconds, StreamDefinition.IdComparer);

    public StreamStatus? Find(string id) => _runners.TryGetValue(id, out var runner) ? runner.Status() : null;

    public RelearnOutcome Relearn(string id) =>
        !_runners.TryGetValue(id, out var runner) ? RelearnOutcome.NoStream
        : !runner.Learns ? RelearnOutcome.DoesNotLearn
        : runner.Relearn() ? RelearnOutcome.Started
        : RelearnOutcome.Busy;

    public IReadOnlyList<float> AnomalyHistory(string id) => _runners.TryGetValue(id, out var runner) ? runner.AnomalyHistory : [];

    /// <summary>
    /// Starts a stream from the REST API: checked (id, source policy, models) and built before it is added, so a
    /// definition whose set-up fails is refused with its reason (<see cref="ArgumentException"/>) and nothing changes.
    /// </summary>
    public Task<StreamStatus> AddAsync(StreamDefinition definition, CancellationToken ct) => AddAsync(definition, checkSetUp: true, ct);

    /// <param name="checkSetUp">Build the stream before adding it and refuse it if that fails; false (the streams of
    /// the config at start) adds a checked definition and leaves its set-up to supervision, so a stream whose set-up
    /// fails shows Faulted and is tried again while the others run.</param>
    public async Task<StreamStatus> AddAsync(StreamDefinition definition, bool checkSetUp, CancellationToken ct)
    {
        Validate(definition);
        await _changes.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_runners.ContainsKey(definition.Id))
            {
                throw new ArgumentException($"a stream with id '{definition.Id}' is already running");
            }
            if (_runners.Keys.FirstOrDefault(id => string.Equals(id, definition.Id, StringComparison.OrdinalIgnoreCase)) is { } other)
            {
                throw new ArgumentException($"a stream with id '{other}' is already running; ids may not differ only in case");
            }
            if (_runners.Count >= shared.Options.MaxStreams)
            {
                throw new StreamLimitException(
                    $"the service already runs {_runners.Count} streams, its limit (Service:MaxStreams = {shared.Options.MaxStreams}); remove one first");
            }
            var runner = NewRunner(definition);
            if (checkSetUp)
            {
                try
                {
                    await PrepareAsync([runner]).ConfigureAwait(false);
                }
                catch
                {
                    await runner.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
            Start(runner);
            _logger.LogInformation("Stream {Stream} added ({Source})", definition.Id, runner.Redacted);
            return runner.Status();
        }
        finally
        {
            _changes.Release();
        }
    }

    public async Task<bool> RemoveAsync(string id, CancellationToken ct)
    {
        await _changes.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (!await StopAsync(id).ConfigureAwait(false))
            {
                return false;
            }
            _logger.LogInformation("Stream {Stream} removed", id);
            return true;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Makes the running streams match <paramref name="wanted"/> (a config reload), as one transaction: every new or
    /// changed definition is checked (id, source policy, models) and built first, while every running stream goes on;
    /// only when all of them are ready are the removed and changed streams stopped and the new ones started. Any error
    /// throws <see cref="ArgumentException"/> naming the stream and its reason, and leaves every stream as it was.
    /// Streams whose definition is unchanged keep running untouched.
    /// </summary>
    public async Task<ReloadChanges> ApplyAsync(IReadOnlyList<StreamDefinition> wanted, CancellationToken ct)
    {
        var duplicate = wanted.GroupBy(d => d.Id, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw new ArgumentException($"the stream id '{duplicate.Key}' is used {duplicate.Count()} times (ids may not differ only in case)");
        }
        await _changes.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (wanted.Count > shared.Options.MaxStreams)
            {
                throw new ArgumentException($"the config has {wanted.Count} streams, more than Service:MaxStreams ({shared.Options.MaxStreams})");
            }
            var byId = wanted.ToDictionary(d => d.Id, StreamDefinition.IdComparer);
            var removed = _runners.Keys.Where(id => !byId.ContainsKey(id)).Order(StringComparer.Ordinal).ToList();
            var changed = _runners.Where(r => byId.TryGetValue(r.Key, out var d) && !SameDefinition(d, r.Value.Definition))
                .Select(r => r.Key).Order(StringComparer.Ordinal).ToList();
            var added = wanted.Where(d => !_runners.ContainsKey(d.Id)).Select(d => d.Id).ToList();
            var unchanged = _runners.Count - removed.Count - changed.Count;

            // 1. Check and build everything new while the running streams go on: nothing has changed yet.
            var ready = new List<StreamRunner>();
            try
            {
                foreach (var id in added.Concat(changed))
                {
                    var definition = byId[id];
                    try
                    {
                        Validate(definition);
                    }
                    catch (ArgumentException ex)
                    {
                        throw new ArgumentException($"stream '{id}': {ex.Message}", ex);
                    }
                    ready.Add(NewRunner(definition));
                }
                await PrepareAsync(ready).ConfigureAwait(false);
            }
            catch
            {
                foreach (var runner in ready)
                {
                    await runner.DisposeAsync().ConfigureAwait(false);
                }
                throw;
            }

            // 2. Commit: stop what goes, start what is ready (stopping and starting cannot fail).
            foreach (var id in removed.Concat(changed))
            {
                await StopAsync(id).ConfigureAwait(false);
                _logger.LogInformation(changed.Contains(id) ? "Stream {Stream} stopped to restart with its new definition" : "Stream {Stream} removed", id);
            }
            foreach (var runner in ready)
            {
                Start(runner);
                _logger.LogInformation("Stream {Stream} {Action} ({Source})", runner.Definition.Id,
                    changed.Contains(runner.Definition.Id) ? "restarted" : "added", runner.Redacted);
            }
            return new ReloadChanges(added.Count, changed.Count, removed.Count, unchanged);
        }
        finally
        {
            _changes.Release();
        }
    }

    private StreamRunner NewRunner(StreamDefinition definition) =>
        new(definition, shared, AnomalyModelOf(definition), ActivityModelOf(definition));

    private void Start(StreamRunner runner)
    {
        _runners[runner.Definition.Id] = runner;
        runner.Start();
    }

    private async Task<bool> StopAsync(string id)
    {
        if (!_runners.TryRemove(id, out var runner))
        {
            return false;
        }
        await runner.DisposeAsync().ConfigureAwait(false);
        shared.Metrics?.ForgetStream(runner.Definition.Id);
        return true;
    }

    /// <summary>Builds each runner's stream (off the caller's thread: opening models and files blocks); the first failure is thrown as the stream's reason.</summary>
    private static async Task PrepareAsync(IReadOnlyList<StreamRunner> runners)
    {
        foreach (var runner in runners)
        {
            try
            {
                await Task.Run(runner.Prepare).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                throw new ArgumentException($"stream '{runner.Definition.Id}' cannot be set up: {Redaction.Redact(ex.Message)}", ex);
            }
        }
    }

    /// <summary>Equal by value, event rules included (they are an options class, compared by their settings).</summary>
    private static bool SameDefinition(StreamDefinition a, StreamDefinition b) =>
        a with { Events = null, Zones = null } == b with { Events = null, Zones = null }
        && System.Text.Json.JsonSerializer.Serialize(a.Events) == System.Text.Json.JsonSerializer.Serialize(b.Events)
        && System.Text.Json.JsonSerializer.Serialize(a.Zones) == System.Text.Json.JsonSerializer.Serialize(b.Zones);

    /// <summary>
    /// Checks a definition before anything starts: its id, its source against the service's source policy (a refused
    /// source, or a file inside the allowed folders that does not exist), its event rules and its models (a model file
    /// that is not a model of its role). Throws <see cref="ArgumentException"/> with a message for the API.
    /// </summary>
    private void Validate(StreamDefinition definition)
    {
        if (string.IsNullOrWhiteSpace(definition.Id) || !StreamDefinition.IsValidId(definition.Id))
        {
            throw new ArgumentException(StreamDefinition.IdRule);
        }
        if (string.IsNullOrWhiteSpace(definition.Source))
        {
            throw new ArgumentException("a stream needs a source (file, camera or URL)");
        }
        try
        {
            var allowed = shared.Defaults.Policy.Check(definition.Source);
            if (allowed.Kind is SourceKind.File && !File.Exists(allowed.OpenPath))
            {
                throw new ArgumentException($"source file not found: {allowed.Location}");
            }
        }
        catch (CaptureException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }
        if (definition.TargetFps is < 0 or > 1000)
        {
            throw new ArgumentException("targetFps must be between 0 and 1000");
        }
        if (definition.LearnMinutes is < 0 or > 10_080)
        {
            throw new ArgumentException("learnMinutes must be between 0 and 10080 (a week)");
        }
        if (definition.Events is { } rules && ServiceOptionsValidator.EventRulesProblem(rules) is { } problem)
        {
            throw new ArgumentException($"events: {problem}");
        }
        if (definition.Zones is { } zones && Edge.Pipeline.Zones.ZoneLayout.Check(zones) is { Count: > 0 } zoneProblems)
        {
            throw new ArgumentException(string.Join("; ", zoneProblems));
        }
        try
        {
            _ = shared.Models.SequenceModel(AnomalyModelOf(definition), "anomaly");
            _ = shared.Models.SequenceModel(ActivityModelOf(definition), "activity");
            if (shared.Defaults.Tracking is { Enabled: true, ActivityModel: { Length: > 0 } trackModel })
            {
                _ = shared.Models.SequenceModel(trackModel, ModelCatalog.TrackActivityRole);
            }
        }
        catch (ModelException ex)
        {
            throw new ArgumentException(ex.Message, ex);
        }
    }

    /// <summary>How often the configured anomaly model files are checked for a change.</summary>
    public static readonly TimeSpan ModelCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Hot reload of configured anomaly models, until <paramref name="stop"/>: every <see cref="ModelCheckInterval"/>
    /// each file that streams were configured with (not the models they learn) is looked at; a file (or its manifest)
    /// that changed and then stayed the same for one more check — a copy has finished — is opened and checked against
    /// the frame model, and put into every stream that uses it without a gap in frames. A file that is missing or not
    /// a usable model is a warning and a status line, and the streams go on with the model they have. Replaced models
    /// are disposed a minute later, when no stream can still be calling them.
    /// </summary>
    public async Task WatchModelsAsync(CancellationToken stop)
    {
        var stamps = new Dictionary<string, (FileStamp Seen, FileStamp Loaded)>(StringComparer.Ordinal);
        using var timer = new PeriodicTimer(ModelCheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
            {
                foreach (var group in _runners.Values.Where(r => r.ConfiguredAnomalyModel.Length > 0).GroupBy(r => r.ConfiguredAnomalyModel, StringComparer.Ordinal))
                {
                    var stamp = FileStamp.Of(shared.Models.Settings.Models.Resolve(group.Key));
                    if (!stamps.TryGetValue(group.Key, out var known))
                    {
                        stamps[group.Key] = (stamp, stamp); // as the streams loaded it
                        continue;
                    }
                    if (stamp == known.Loaded || stamp != known.Seen)
                    {
                        stamps[group.Key] = (stamp, known.Loaded); // unchanged, or still being written
                        continue;
                    }
                    stamps[group.Key] = (stamp, stamp);
                    Reload(group.Key, [.. group]);
                }
                await shared.Models.DisposeRetiredAsync(TimeSpan.FromMinutes(1)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }

    private void Reload(string configured, IReadOnlyList<StreamRunner> runners)
    {
        var name = Path.GetFileName(configured);
        var ids = string.Join(", ", runners.Select(r => r.Definition.Id));
        IWindowModel model;
        try
        {
            // Anything the new file does wrong (missing, not ONNX, a manifest that does not parse, the wrong shape) is
            // reported here: the watcher itself must never stop.
            model = shared.Models.Reload(configured, "anomaly");
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            var reason = ex.Message.Split('\n', 2)[0];
            _logger.LogWarning("The anomaly model file {Model} changed but cannot be used; stream(s) {Streams} go on with the model they had: {Error}", configured, ids, reason);
            foreach (var runner in runners)
            {
                runner.NoteModel($"{name} changed but cannot be used ({reason}); the previous model goes on");
            }
            return;
        }
        _logger.LogInformation("The anomaly model file {Model} changed: reloaded into stream(s) {Streams}", configured, ids);
        foreach (var runner in runners)
        {
            runner.ReplaceAnomalyModel(model);
            runner.NoteModel($"reloaded {name} at {DateTime.UtcNow:HH:mm:ss} UTC");
        }
    }

    /// <summary>A model file's and its manifest's size and last write time: what tells a replaced file.</summary>
    private readonly record struct FileStamp(long Length, DateTime Written, long ManifestLength, DateTime ManifestWritten)
    {
        public static FileStamp Of(string path)
        {
            var model = new FileInfo(path);
            var manifest = new FileInfo(ModelManifest.PathFor(path));
            return new FileStamp(model.Exists ? model.Length : -1, model.Exists ? model.LastWriteTimeUtc : default,
                manifest.Exists ? manifest.Length : -1, manifest.Exists ? manifest.LastWriteTimeUtc : default);
        }
    }

    internal string AnomalyModelOf(StreamDefinition definition) =>
        definition.AnomalyModel is { Length: > 0 } path ? path : shared.Defaults.Analysis.AnomalyModel;

    internal string ActivityModelOf(StreamDefinition definition) =>
        definition.ActivityModel is { Length: > 0 } path ? path : shared.Defaults.Analysis.ActivityModel;

    /// <summary>Stops every stream: capture stops, frames already read are analysed, sinks are flushed.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_runners.Values.Select(r => r.DisposeAsync().AsTask())).ConfigureAwait(false);
        _runners.Clear();
        _changes.Dispose();
    }
}
