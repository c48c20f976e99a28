using Edge.Host.Delivery;
using Edge.Pipeline.Events;
using Microsoft.Data.Sqlite;

namespace Edge.Host.Sinks;

/// <summary>
/// Events in an embedded SQLite database (one table, keyed by event id so a repeated write is ignored). With an
/// outbox, each new event is queued for delivery in the same transaction. The store owns its connection (not the
/// outbox); dispose it to close the file.
/// </summary>
public sealed class SqliteEventStore : IDisposable
{
    public const string FileName = "events.db";

    private readonly SqliteConnection _connection;
    private readonly EventOutbox? _outbox;

    public SqliteEventStore(string path, EventOutbox? outbox = null)
    {
        _outbox = outbox;
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        _connection.Open();
        using var create = _connection.CreateCommand();
        create.CommandText = """
            CREATE TABLE IF NOT EXISTS events (
                id TEXT PRIMARY KEY, stream TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
                start_ms REAL NOT NULL, end_ms REAL NOT NULL, start_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL,
                peak_score REAL NOT NULL, peak_frame INTEGER NOT NULL, snapshot TEXT, clip TEXT);
            CREATE INDEX IF NOT EXISTS events_stream_start ON events (stream, start_ms);
            """;
        create.ExecuteNonQuery();
        outbox?.AttachTo(_connection);
    }

    /// <summary>Stores an event and queues it for delivery; an event already stored (same id) is left as it is.</summary>
    public void Add(DetectedEvent e)
    {
        // One connection serves every stream's sink in the service: one writer at a time.
        lock (_connection)
        {
            AddLocked(e);
        }
    }

    private void AddLocked(DetectedEvent e)
    {
        using var transaction = _connection.BeginTransaction();
        using var insert = _connection.CreateCommand();
        insert.Transaction = transaction;
        insert.CommandText = """
            INSERT OR IGNORE INTO events VALUES ($id, $stream, $kind, $label, $start_ms, $end_ms, $start_frame, $end_frame, $peak_score, $peak_frame, $snapshot, $clip)
            """;
        insert.Parameters.AddWithValue("$id", e.Id);
        insert.Parameters.AddWithValue("$stream", e.StreamId);
        insert.Parameters.AddWithValue("$kind", e.Kind);
        insert.Parameters.AddWithValue("$label", e.Label);
        insert.Parameters.AddWithValue("$start_ms", e.StartMs);
        insert.Parameters.AddWithValue("$end_ms", e.EndMs);
        insert.Parameters.AddWithValue("$start_frame", e.StartFrame);
        insert.Parameters.AddWithValue("$end_frame", e.EndFrame);
        insert.Parameters.AddWithValue("$peak_score", e.PeakScore);
        insert.Parameters.AddWithValue("$peak_frame", e.PeakFrame);
        insert.Parameters.AddWithValue("$snapshot", (object?)e.Snapshot ?? DBNull.Value);
        insert.Parameters.AddWithValue("$clip", (object?)e.Clip ?? DBNull.Value);
        var added = insert.ExecuteNonQuery() == 1;
        if (added)
        {
            _outbox?.Enqueue(transaction, e);
        }
        transaction.Commit();
        if (added)
        {
            _outbox?.Notify();
        }
    }

    /// <summary>Events, oldest first, optionally of one stream and kind.</summary>
    public List<DetectedEvent> Query(string? stream = null, string? kind = null, int limit = 1000)
    {
        using var select = _connection.CreateCommand();
        select.CommandText = """
            SELECT id, stream, kind, label, start_ms, end_ms, start_frame, end_frame, peak_score, peak_frame, snapshot, clip FROM events
            WHERE ($stream IS NULL OR stream = $stream) AND ($kind IS NULL OR kind = $kind)
            ORDER BY start_ms, id LIMIT $limit
            """;
        select.Parameters.AddWithValue("$stream", (object?)stream ?? DBNull.Value);
        select.Parameters.AddWithValue("$kind", (object?)kind ?? DBNull.Value);
        select.Parameters.AddWithValue("$limit", limit);
        using var reader = select.ExecuteReader();
        var events = new List<DetectedEvent>();
        while (reader.Read())
        {
            events.Add(new DetectedEvent(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3),
                reader.GetDouble(4), reader.GetDouble(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetDouble(8), reader.GetInt64(9))
            {
                Snapshot = reader.IsDBNull(10) ? null : reader.GetString(10),
                Clip = reader.IsDBNull(11) ? null : reader.GetString(11),
            });
        }
        return events;
    }

    public void Dispose() => _connection.Dispose();
}
