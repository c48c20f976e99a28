using System.Collections.Concurrent;
using Edge.Host.Service;

namespace Edge.Host.Tests.Web;

/// <summary>
/// An <see cref="IStreamRegistry"/> holding fixed <see cref="StreamStatus"/> values that tests set, for the web layer
/// alone: it runs no capture. Added streams start as Running with a redacted source.
/// </summary>
public sealed class CannedStreamRegistry : IStreamRegistry
{
    private readonly ConcurrentDictionary<string, StreamStatus> _streams = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, float[]> _history = new(StringComparer.Ordinal);

    public List<StreamDefinition> Added { get; } = [];

    public IReadOnlyList<StreamStatus> Streams => _streams.Values.OrderBy(s => s.Id, StringComparer.Ordinal).ToList();

    public void Set(StreamStatus status, params float[] anomalyHistory)
    {
        _streams[status.Id] = status;
        _history[status.Id] = anomalyHistory;
    }

    public StreamStatus? Find(string id) => _streams.GetValueOrDefault(id);

    public IReadOnlyList<float> AnomalyHistory(string id) => _history.GetValueOrDefault(id) ?? [];

    public Task<StreamStatus> AddAsync(StreamDefinition definition, CancellationToken ct)
    {
        var status = Running(definition.Id, "redacted://" + definition.Id);
        if (!_streams.TryAdd(definition.Id, status))
        {
            throw new ArgumentException($"stream '{definition.Id}' already exists", nameof(definition));
        }
        lock (Added)
        {
            Added.Add(definition);
        }
        return Task.FromResult(status);
    }

    public Task<bool> RemoveAsync(string id, CancellationToken ct) => Task.FromResult(_streams.TryRemove(id, out _));

    /// <summary>What a relearn request of a known stream answers; the ids relearn was asked for.</summary>
    public RelearnOutcome RelearnAnswer { get; set; } = RelearnOutcome.Started;

    public List<string> Relearned { get; } = [];

    public RelearnOutcome Relearn(string id)
    {
        if (!_streams.ContainsKey(id))
        {
            return RelearnOutcome.NoStream;
        }
        lock (Relearned)
        {
            Relearned.Add(id);
        }
        return RelearnAnswer;
    }

    public static StreamStatus Running(string id, string source) => new(id, source, StreamState.Running, null,
        DateTime.UtcNow, 0, 0, 0, 0, 0, 0, 0, null, null, 0);
}
