using System.Collections.Concurrent;
using Edge.Capture;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Service;

/// <summary>
/// What every stream of the service shares: options, the CNN, the sequence models (one session per model file, batched
/// across the streams that use it), the event store and where event files go. Owns the sequence models.
/// </summary>
public sealed class StreamServiceContext(EdgeContext context, SharedEmbedder embedder, SqliteEventStore store, string eventsFolder) : IAsyncDisposable
{
    private readonly Dictionary<string, SharedSequenceModel?> _sequenceModels = new(StringComparer.Ordinal);

    public EdgeContext Context { get; } = context;

    public ServiceOptions Options => Context.Get<ServiceOptions>();

    public SharedEmbedder Embedder { get; } = embedder;

    public SqliteEventStore Store { get; } = store;

    public string EventsFolder { get; } = eventsFolder;

    /// <summary>Frame ages and events for /metrics; null when nothing collects them.</summary>
    public Web.EdgeMetrics? Metrics { get; init; }

    /// <summary>More sinks for a stream (e.g. the live preview), created per stream.</summary>
    public Func<string, IEnumerable<IResultSink>> ExtraSinks { get; init; } = _ => [];

    /// <summary>
    /// The shared session of a configured sequence model (opened on first use), or null when none is configured or
    /// it is missing and not required (said once, when first asked).
    /// </summary>
    public SharedSequenceModel? SequenceModel(string configured, string role)
    {
        lock (_sequenceModels)
        {
            var key = role + ":" + configured;
            if (!_sequenceModels.TryGetValue(key, out var shared))
            {
                var model = Commands.ProcessCommand.OpenSequenceModel(Context, configured, role, Embedder.EmbeddingSize, Context.CreateLogger("Edge.Models"));
                shared = model is null ? null : new SharedSequenceModel(model, Options.MaxBatch, Options.BatchWindowMs);
                _sequenceModels[key] = shared;
            }
            return shared;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var model in _sequenceModels.Values)
        {
            if (model is not null)
            {
                await model.DisposeAsync().ConfigureAwait(false);
            }
        }
        _sequenceModels.Clear();
    }
}

/// <summary>
/// The streams of <c>edge run</c>: starts, adds and removes <see cref="StreamRunner"/>s, each independent of the
/// others (a failing or reconnecting stream does not disturb the rest). Owns the runners.
/// </summary>
public sealed class StreamService(StreamServiceContext shared) : IStreamRegistry, IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, StreamRunner> _runners = new(StringComparer.OrdinalIgnoreCase);
    private readonly SemaphoreSlim _changes = new(1, 1);
    private readonly ILogger _logger = shared.Context.CreateLogger("Edge.Service");

    public IReadOnlyList<StreamStatus> Streams => [.. _runners.Values.OrderBy(r => r.Definition.Id, StringComparer.Ordinal).Select(r => r.Status())];

    /// <summary>Seconds each stream has been running.</summary>
    public IReadOnlyDictionary<string, double> ElapsedSeconds =>
        _runners.ToDictionary(r => r.Key, r => r.Value.ElapsedSeconds, StringComparer.OrdinalIgnoreCase);

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
            var runner = new StreamRunner(definition, shared);
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
        var byId = wanted.ToDictionary(d => d.Id, StringComparer.OrdinalIgnoreCase);
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

    private static void Validate(StreamDefinition definition)
    {
        if (string.IsNullOrWhiteSpace(definition.Id) || !System.Text.RegularExpressions.Regex.IsMatch(definition.Id, "^[A-Za-z0-9_-]{1,64}$"))
        {
            throw new ArgumentException("a stream id is 1-64 letters, digits, '_' or '-'");
        }
        if (string.IsNullOrWhiteSpace(definition.Source))
        {
            throw new ArgumentException("a stream needs a source (file, camera or URL)");
        }
        if (!FrameSources.IsUrl(definition.Source) && !FrameSources.IsCamera(definition.Source) && !File.Exists(definition.Source))
        {
            throw new ArgumentException($"source file not found: {definition.Source}");
        }
        if (definition.TargetFps is < 0 or > 1000)
        {
            throw new ArgumentException("targetFps must be between 0 and 1000");
        }
        if (definition.Events is { } rules && ServiceOptionsValidator.EventRulesProblem(rules) is { } problem)
        {
            throw new ArgumentException($"events: {problem}");
        }
    }

    /// <summary>Stops every stream: capture stops, frames already read are analysed, sinks are flushed.</summary>
    public async ValueTask DisposeAsync()
    {
        await Task.WhenAll(_runners.Values.Select(r => r.DisposeAsync().AsTask())).ConfigureAwait(false);
        _runners.Clear();
        _changes.Dispose();
    }
}
