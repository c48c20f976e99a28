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

/// <summary>The configured sections a stream of the service is built from when its definition does not say otherwise.</summary>
public sealed record StreamDefaults(CaptureOptions Capture, ReconnectOptions Reconnect, PipelineOptions Pipeline, AnalysisOptions Analysis,
    EventRules Events, SourcePolicy Policy)
{
    public static StreamDefaults From(EdgeContext context) => new(context.Get<CaptureOptions>(), context.Get<ReconnectOptions>(),
        context.Get<PipelineOptions>(), context.Get<AnalysisOptions>(), context.Get<EventRules>(),
        SourcePolicy.ForService(context.Get<SourcesOptions>()));
}

/// <summary>
/// The streams of <c>edge run</c>: starts, adds and removes <see cref="StreamRunner"/>s, each independent of the
/// others (a failing or reconnecting stream does not disturb the rest). Owns the runners. Stream ids are exact
/// (<see cref="StreamDefinition.IdComparer"/>) here as in previews, metrics and events; two ids may not differ only in
/// case. At most <see cref="ServiceOptions.MaxStreams"/> streams run at once.
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

    public IReadOnlyList<float> AnomalyHistory(string id) => _runners.TryGetValue(id, out var runner) ? runner.AnomalyHistory : [];

    public async Task<StreamStatus> AddAsync(StreamDefinition definition, CancellationToken ct)
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
            var runner = new StreamRunner(definition, shared, AnomalyModelOf(definition), ActivityModelOf(definition));
            _runners[definition.Id] = runner;
            runner.Start();
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
            if (!_runners.TryRemove(id, out var runner))
            {
                return false;
            }
            await runner.DisposeAsync().ConfigureAwait(false);
            shared.Metrics?.ForgetStream(runner.Definition.Id);
            _logger.LogInformation("Stream {Stream} removed", id);
            return true;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Makes the running streams match <paramref name="wanted"/> (a config reload): removes streams that are gone or
    /// changed, adds new or changed ones; streams whose definition is unchanged keep running untouched.
    /// </summary>
    public async Task ApplyAsync(IReadOnlyList<StreamDefinition> wanted, CancellationToken ct)
    {
        var byId = wanted.ToDictionary(d => d.Id, StreamDefinition.IdComparer);
        foreach (var (id, runner) in _runners.ToArray())
        {
            if (!byId.TryGetValue(id, out var definition) || !SameDefinition(definition, runner.Definition))
            {
                await RemoveAsync(id, ct).ConfigureAwait(false);
            }
        }
        foreach (var definition in wanted.Where(d => !_runners.ContainsKey(d.Id)))
        {
            await AddAsync(definition, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Equal by value, event rules included (they are an options class, compared by their settings).</summary>
    private static bool SameDefinition(StreamDefinition a, StreamDefinition b) =>
        a with { Events = null } == b with { Events = null }
        && System.Text.Json.JsonSerializer.Serialize(a.Events) == System.Text.Json.JsonSerializer.Serialize(b.Events);

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
        if (definition.Events is { } rules && ServiceOptionsValidator.EventRulesProblem(rules) is { } problem)
        {
            throw new ArgumentException($"events: {problem}");
        }
        try
        {
            _ = shared.Models.SequenceModel(AnomalyModelOf(definition), "anomaly");
            _ = shared.Models.SequenceModel(ActivityModelOf(definition), "activity");
        }
        catch (ModelException ex)
        {
            throw new ArgumentException(ex.Message, ex);
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
