using Edge.Pipeline.Outputs;
using System.Text.Json;
using Edge.Pipeline.Events;
using Microsoft.Data.Sqlite;

namespace Edge.Pipeline.Delivery;

/// <summary>
/// The durable outbox: one row per event and delivery target in a SQLite file, written in the same transaction as the
/// event store's row (<see cref="AttachTo"/>, <see cref="Enqueue"/>), so an event is stored and queued for delivery
/// or neither. Rows stay pending until their target accepts them; delivered rows are kept for a week (pruned at
/// start), and a long-running service prunes done rows while it runs (<see cref="Prune"/>, the Retention section).
/// The outbox owns its own connection (thread-safe through a lock); dispose it after every delivery using it stopped.
/// </summary>
public sealed class EventOutbox : IDisposable
{
    /// <summary>The schema name of the outbox inside a connection it is attached to.</summary>
    private const string Attached = "outbox";

    private static readonly TimeSpan s_keepDelivered = TimeSpan.FromDays(7);
    private static readonly JsonSerializerOptions s_json = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private readonly string _device;
    private TaskCompletionSource _enqueued = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Opens (or creates) the outbox at <see cref="DeliveryOptions.OutboxPath"/> for the enabled targets.</summary>
    /// <exception cref="OutputException">The file cannot be created or is not an outbox.</exception>
    public EventOutbox(DeliveryOptions options)
    {
        Path = System.IO.Path.GetFullPath(options.OutboxPath);
        _device = options.Device;
        Targets = [.. new[] { (options.Mqtt.Enabled, DeliveryTargets.Mqtt), (options.Webhook.Enabled, DeliveryTargets.Webhook) }
            .Where(t => t.Item1).Select(t => t.Item2)];
        try
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
            _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path, Pooling = false }.ToString());
            _connection.Open();
            // Pages freed by Prune go back to the file system; effective only for a new file, before its first table.
            Execute("PRAGMA auto_vacuum = INCREMENTAL");
            Execute("""
                CREATE TABLE IF NOT EXISTS messages (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT, target TEXT NOT NULL, event_id TEXT NOT NULL, stream TEXT NOT NULL,
                    payload TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending', attempts INTEGER NOT NULL DEFAULT 0,
                    created_utc TEXT NOT NULL, done_utc TEXT, error TEXT, UNIQUE (target, event_id));
                CREATE INDEX IF NOT EXISTS messages_target_state ON messages (target, state, seq);
                """);
            Execute("DELETE FROM messages WHERE state = 'delivered' AND done_utc < $before",
                ("$before", DateTimeOffset.UtcNow.Subtract(s_keepDelivered).ToString("O")));
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            _connection?.Dispose();
            throw new OutputException($"cannot open the delivery outbox {options.OutboxPath}: {ex.Message}", ex);
        }
    }

    public string Path { get; }

    /// <summary>The targets each new event is queued for.</summary>
    public IReadOnlyList<string> Targets { get; }

    /// <summary>Attaches the outbox to another connection (the event store's), so one transaction writes both.</summary>
    public void AttachTo(SqliteConnection connection)
    {
        using var attach = connection.CreateCommand();
        attach.CommandText = $"ATTACH DATABASE $path AS {Attached}";
        attach.Parameters.AddWithValue("$path", Path);
        attach.ExecuteNonQuery();
    }

    /// <summary>
    /// Queues the event for every target inside <paramref name="transaction"/>, on a connection the outbox is attached
    /// to. Call <see cref="Notify"/> after the commit.
    /// </summary>
    public void Enqueue(SqliteTransaction transaction, DetectedEvent e)
    {
        var payload = JsonSerializer.Serialize(EventMessage.From(e, _device, DateTimeOffset.UtcNow), s_json);
        foreach (var target in Targets)
        {
            using var insert = transaction.Connection!.CreateCommand();
            insert.Transaction = transaction;
            insert.CommandText = $"""
                INSERT OR IGNORE INTO {Attached}.messages (target, event_id, stream, payload, created_utc)
                VALUES ($target, $id, $stream, $payload, $created)
                """;
            insert.Parameters.AddWithValue("$target", target);
            insert.Parameters.AddWithValue("$id", e.Id);
            insert.Parameters.AddWithValue("$stream", e.StreamId);
            insert.Parameters.AddWithValue("$payload", payload);
            insert.Parameters.AddWithValue("$created", DateTimeOffset.UtcNow.ToString("O"));
            insert.ExecuteNonQuery();
        }
    }

    /// <summary>Wakes the deliveries waiting for new rows.</summary>
    public void Notify() => Interlocked.Exchange(ref _enqueued, new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>Returns when <see cref="Notify"/> is called or after <paramref name="timeout"/>, whichever is first.</summary>
    public async Task WaitForEnqueueAsync(TimeSpan timeout, CancellationToken ct)
    {
        try
        {
            await Volatile.Read(ref _enqueued).Task.WaitAsync(timeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Rows written by another process raise no signal: the timeout is the poll that finds them.
        }
    }

    /// <summary>The oldest pending messages of a target, at most <paramref name="limit"/>.</summary>
    public IReadOnlyList<OutboxMessage> ReadPending(string target, int limit)
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = """
                SELECT seq, event_id, stream, payload, attempts FROM messages
                WHERE target = $target AND state = 'pending' ORDER BY seq LIMIT $limit
                """;
            select.Parameters.AddWithValue("$target", target);
            select.Parameters.AddWithValue("$limit", limit);
            using var reader = select.ExecuteReader();
            var page = new List<OutboxMessage>();
            while (reader.Read())
            {
                page.Add(new OutboxMessage(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt32(4)));
            }
            return page;
        }
    }

    public void MarkDelivered(OutboxMessage message) => Finish(message, "delivered", null);

    /// <summary>The target refused the message for good (e.g. HTTP 400): it is kept, with the reason, but not retried.</summary>
    public void MarkFailed(OutboxMessage message, string error) => Finish(message, "failed", error);

    /// <summary>Counts a failed attempt; the message stays pending.</summary>
    public void RecordAttempt(OutboxMessage message, string error)
    {
        lock (_lock)
        {
            Execute("UPDATE messages SET attempts = attempts + 1, error = $error WHERE seq = $seq", ("$error", error), ("$seq", message.Seq));
        }
    }

    /// <summary>Messages of a target by state, over the whole outbox (earlier runs included).</summary>
    public OutboxCounts Count(string target)
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = """
                SELECT COALESCE(SUM(state = 'pending'), 0), COALESCE(SUM(state = 'delivered'), 0), COALESCE(SUM(state = 'failed'), 0)
                FROM messages WHERE target = $target
                """;
            select.Parameters.AddWithValue("$target", target);
            using var reader = select.ExecuteReader();
            reader.Read();
            return new OutboxCounts(reader.GetInt64(0), reader.GetInt64(1), reader.GetInt64(2));
        }
    }

    /// <summary>
    /// Deletes messages that are done: delivered ones older than <paramref name="keepDelivered"/>, refused ones older
    /// than <paramref name="keepFailed"/>, and then, while the outbox holds more than <paramref name="maxBytes"/>
    /// (0 = no bound), the oldest done messages. Pending messages are never deleted: they are events not yet delivered.
    /// </summary>
    public OutboxPrune Prune(TimeSpan keepDelivered, TimeSpan keepFailed, long maxBytes, DateTimeOffset now)
    {
        lock (_lock)
        {
            var deleted = ExecuteCount("DELETE FROM messages WHERE state = 'delivered' AND done_utc < $before",
                ("$before", now.Subtract(keepDelivered).ToString("O")));
            deleted += ExecuteCount("DELETE FROM messages WHERE state = 'failed' AND done_utc < $before",
                ("$before", now.Subtract(keepFailed).ToString("O")));
            var used = Edge.Pipeline.Events.SqliteEventStore.UsedBytes(_connection, "main");
            while (maxBytes > 0 && used > maxBytes)
            {
                var removed = ExecuteCount(
                    "DELETE FROM messages WHERE seq IN (SELECT seq FROM messages WHERE state <> 'pending' ORDER BY seq LIMIT 500)");
                if (removed == 0)
                {
                    break; // only pending messages are left: they stay, whatever the size
                }
                deleted += removed;
                used = Edge.Pipeline.Events.SqliteEventStore.UsedBytes(_connection, "main");
            }
            ExecuteCount("PRAGMA incremental_vacuum");
            return new OutboxPrune(deleted, used);
        }
    }

    public void Dispose() => _connection.Dispose();

    private int ExecuteCount(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        return command.ExecuteNonQuery();
    }

    private void Finish(OutboxMessage message, string state, string? error)
    {
        lock (_lock)
        {
            Execute("UPDATE messages SET state = $state, done_utc = $done, error = $error, attempts = attempts + 1 WHERE seq = $seq",
                ("$state", state), ("$done", DateTimeOffset.UtcNow.ToString("O")), ("$error", (object?)error ?? DBNull.Value), ("$seq", message.Seq));
        }
    }

    private void Execute(string sql, params (string Name, object Value)[] parameters)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }
        command.ExecuteNonQuery();
    }
}

/// <summary>One pending message: <see cref="Payload"/> is the JSON sent, the same for every target.</summary>
public sealed record OutboxMessage(long Seq, string EventId, string StreamId, string Payload, int Attempts);

public sealed record OutboxCounts(long Pending, long Delivered, long Failed);

/// <param name="Deleted">Done messages deleted.</param>
/// <param name="UsedBytes">Bytes the outbox holds after the prune.</param>
public sealed record OutboxPrune(int Deleted, long UsedBytes);

/// <summary>
/// The JSON every target receives. <see cref="Id"/> is the event's id: delivery is at least once, so a receiver
/// that sees an id again drops the repeat.
/// </summary>
public sealed record EventMessage(
    string Id, string Device, string Stream, string Kind, string Label, double StartMs, double EndMs, double DurationMs,
    long StartFrame, long EndFrame, double PeakScore, long PeakFrame, string? Snapshot, string? Clip, DateTimeOffset QueuedUtc)
{
    public static EventMessage From(DetectedEvent e, string device, DateTimeOffset queuedUtc) =>
        new(e.Id, device, e.StreamId, e.Kind, e.Label, e.StartMs, e.EndMs, e.DurationMs, e.StartFrame, e.EndFrame,
            e.PeakScore, e.PeakFrame, e.Snapshot, e.Clip, queuedUtc);
}
