using System.Globalization;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Microsoft.Data.Sqlite;

namespace Edge.Pipeline.Events;

/// <summary>
/// Events in an embedded SQLite database (one table, keyed by event id so a repeated write is ignored). With an
/// outbox, each new event is queued for delivery in the same transaction. Each row also records when it was stored
/// (<c>stored_ms</c>, Unix ms), the time retention goes by. The store owns its connection (not the outbox); dispose it
/// to close the file. Thread-safe: the sink writing events, retention and web requests reading them share one store,
/// and one connection must not run two commands at once.
/// </summary>
public sealed class SqliteEventStore : IDisposable
{
    public const string FileName = "events.db";

    private const string Columns = "id, stream, kind, label, start_ms, end_ms, start_frame, end_frame, peak_score, peak_frame, snapshot, clip";

    private readonly SqliteConnection _connection;
    private readonly Lock _lock = new();
    private readonly EventOutbox? _outbox;

    /// <exception cref="OutputException">The file cannot be created or opened, or is not an event store.</exception>
    public SqliteEventStore(string path, EventOutbox? outbox = null)
    {
        _outbox = outbox;
        Path = System.IO.Path.GetFullPath(path);
        _connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        try
        {
            _connection.Open();
            // Pages freed by retention go back to the file system (PRAGMA incremental_vacuum in Compact); this takes
            // effect only when the file is new, before its first table.
            Execute("PRAGMA auto_vacuum = INCREMENTAL");
            using var create = _connection.CreateCommand();
            create.CommandText = """
                CREATE TABLE IF NOT EXISTS events (
                    id TEXT PRIMARY KEY, stream TEXT NOT NULL, kind TEXT NOT NULL, label TEXT NOT NULL,
                    start_ms REAL NOT NULL, end_ms REAL NOT NULL, start_frame INTEGER NOT NULL, end_frame INTEGER NOT NULL,
                    peak_score REAL NOT NULL, peak_frame INTEGER NOT NULL, snapshot TEXT, clip TEXT, stored_ms REAL);
                CREATE INDEX IF NOT EXISTS events_stream_start ON events (stream, start_ms);
                CREATE INDEX IF NOT EXISTS events_start ON events (start_ms);
                """;
            create.ExecuteNonQuery();
            if (!HasColumn("events", "stored_ms"))
            {
                // A store written before retention: its rows have no stored time; retention then goes by their end.
                Execute("ALTER TABLE events ADD COLUMN stored_ms REAL");
            }
            Execute("CREATE INDEX IF NOT EXISTS events_stored ON events (stored_ms)");
            outbox?.AttachTo(_connection);
        }
        catch (Exception ex) when (ex is SqliteException or IOException or UnauthorizedAccessException)
        {
            _connection.Dispose();
            throw new OutputException($"cannot open the event store {path}: {ex.Message}", ex);
        }
    }

    /// <summary>The database file.</summary>
    public string Path { get; }

    /// <summary>Stores an event and queues it for delivery; an event already stored (same id) is left as it is.</summary>
    public void Add(DetectedEvent e)
    {
        lock (_lock)
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
            INSERT OR IGNORE INTO events (id, stream, kind, label, start_ms, end_ms, start_frame, end_frame, peak_score, peak_frame, snapshot, clip, stored_ms)
            VALUES ($id, $stream, $kind, $label, $start_ms, $end_ms, $start_frame, $end_frame, $peak_score, $peak_frame, $snapshot, $clip, $stored_ms)
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
        insert.Parameters.AddWithValue("$stored_ms", (double)DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
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
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = $"""
                SELECT {Columns} FROM events
                WHERE ($stream IS NULL OR stream = $stream) AND ($kind IS NULL OR kind = $kind)
                ORDER BY start_ms, id LIMIT $limit
                """;
            select.Parameters.AddWithValue("$stream", (object?)stream ?? DBNull.Value);
            select.Parameters.AddWithValue("$kind", (object?)kind ?? DBNull.Value);
            select.Parameters.AddWithValue("$limit", limit);
            return Read(select);
        }
    }

    /// <summary>
    /// One page of events, newest first, that match every filter given. Pages are keyed by the last event's start
    /// time and id (not an offset), so events stored while a client pages through do not shift or repeat rows.
    /// </summary>
    public EventPage Page(EventFilter filter, int limit, EventCursor? after = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            // Only the filters given become conditions, so SQLite can walk (stream, start_ms) or (start_ms) backwards
            // and stop after one page.
            var where = new List<string>();
            void Condition(string sql, string name, object? value)
            {
                if (value is not null)
                {
                    where.Add(sql);
                    select.Parameters.AddWithValue(name, value);
                }
            }
            Condition("stream = $stream", "$stream", filter.Stream);
            Condition("kind = $kind", "$kind", filter.Kind);
            Condition("start_ms >= $from_ms", "$from_ms", filter.FromMs);
            Condition("start_ms < $to_ms", "$to_ms", filter.ToMs);
            Condition("peak_score >= $min_score", "$min_score", filter.MinScore);
            if (after is not null)
            {
                where.Add("(start_ms < $after_ms OR (start_ms = $after_ms AND id < $after_id))");
                select.Parameters.AddWithValue("$after_ms", after.StartMs);
                select.Parameters.AddWithValue("$after_id", after.Id);
            }
            select.CommandText = $"""
                SELECT {Columns} FROM events {(where.Count > 0 ? "WHERE " + string.Join(" AND ", where) : "")}
                ORDER BY start_ms DESC, id DESC LIMIT $limit
                """;
            // One row more than asked tells whether a next page exists without a second query.
            select.Parameters.AddWithValue("$limit", limit + 1);
            var events = Read(select);
            if (events.Count <= limit)
            {
                return new EventPage(events, null);
            }
            events.RemoveAt(limit);
            var last = events[^1];
            return new EventPage(events, new EventCursor(last.StartMs, last.Id));
        }
    }

    /// <summary>The event with this id, or null.</summary>
    public DetectedEvent? Find(string id)
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = $"SELECT {Columns} FROM events WHERE id = $id";
            select.Parameters.AddWithValue("$id", id);
            return Read(select) is [var found] ? found : null;
        }
    }

    /// <summary>Events stored so far (every stream).</summary>
    public long Count()
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = "SELECT COUNT(*) FROM events";
            return (long)select.ExecuteScalar()!;
        }
    }

    /// <summary>
    /// The oldest stored events (by the time they were stored), at most <paramref name="limit"/>, optionally only
    /// those stored before <paramref name="storedBeforeMs"/> (Unix ms).
    /// </summary>
    public List<StoredEventFiles> Oldest(int limit, double? storedBeforeMs = null)
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = """
                SELECT id, snapshot, clip, COALESCE(stored_ms, end_ms) AS stored FROM events
                WHERE $before IS NULL OR COALESCE(stored_ms, end_ms) < $before
                ORDER BY stored, rowid LIMIT $limit
                """;
            select.Parameters.AddWithValue("$before", (object?)storedBeforeMs ?? DBNull.Value);
            select.Parameters.AddWithValue("$limit", limit);
            using var reader = select.ExecuteReader();
            var rows = new List<StoredEventFiles>();
            while (reader.Read())
            {
                rows.Add(new StoredEventFiles(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetDouble(3)));
            }
            return rows;
        }
    }

    /// <summary>Deletes events by id (their files are the caller's to delete).</summary>
    public int Delete(IReadOnlyCollection<string> ids)
    {
        if (ids.Count == 0)
        {
            return 0;
        }
        lock (_lock)
        {
            using var transaction = _connection.BeginTransaction();
            var deleted = 0;
            foreach (var id in ids)
            {
                using var delete = _connection.CreateCommand();
                delete.Transaction = transaction;
                delete.CommandText = "DELETE FROM events WHERE id = $id";
                delete.Parameters.AddWithValue("$id", id);
                deleted += delete.ExecuteNonQuery();
            }
            transaction.Commit();
            return deleted;
        }
    }

    /// <summary>Every snapshot and clip file name a stored event refers to.</summary>
    public HashSet<string> FileNames()
    {
        lock (_lock)
        {
            using var select = _connection.CreateCommand();
            select.CommandText = "SELECT snapshot FROM events WHERE snapshot IS NOT NULL UNION ALL SELECT clip FROM events WHERE clip IS NOT NULL";
            using var reader = select.ExecuteReader();
            var names = new HashSet<string>(StringComparer.Ordinal);
            while (reader.Read())
            {
                names.Add(reader.GetString(0));
            }
            return names;
        }
    }

    /// <summary>
    /// Forgets the snapshot or clip of every event whose file <paramref name="exists"/> says is gone (deleted by hand,
    /// or never completed), so every stored event refers only to whole files. Returns the rows changed.
    /// </summary>
    public int ForgetMissingFiles(Func<string, bool> exists)
    {
        lock (_lock)
        {
            var missing = new List<(string Id, string Column)>();
            using (var select = _connection.CreateCommand())
            {
                select.CommandText = "SELECT id, snapshot, clip FROM events WHERE snapshot IS NOT NULL OR clip IS NOT NULL";
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    if (!reader.IsDBNull(1) && !exists(reader.GetString(1)))
                    {
                        missing.Add((reader.GetString(0), "snapshot"));
                    }
                    if (!reader.IsDBNull(2) && !exists(reader.GetString(2)))
                    {
                        missing.Add((reader.GetString(0), "clip"));
                    }
                }
            }
            foreach (var (id, column) in missing)
            {
                Execute($"UPDATE events SET {column} = NULL WHERE id = $id", ("$id", id));
            }
            return missing.Count;
        }
    }

    /// <summary>Returns the pages that deletions freed to the file system (stores created with incremental vacuum).</summary>
    public void Compact()
    {
        lock (_lock)
        {
            Execute("PRAGMA main.incremental_vacuum");
        }
    }

    /// <summary>Bytes the database's pages hold (free pages left by deletions are reused and not counted).</summary>
    public long UsedBytes()
    {
        lock (_lock)
        {
            return UsedBytes(_connection, "main");
        }
    }

    /// <summary>Bytes in use in one schema of a connection: (pages − free pages) × page size.</summary>
    internal static long UsedBytes(SqliteConnection connection, string schema)
    {
        long Pragma(string name)
        {
            using var pragma = connection.CreateCommand();
            pragma.CommandText = $"PRAGMA {schema}.{name}";
            return Convert.ToInt64(pragma.ExecuteScalar(), CultureInfo.InvariantCulture);
        }
        return (Pragma("page_count") - Pragma("freelist_count")) * Pragma("page_size");
    }

    private bool HasColumn(string table, string column)
    {
        using var info = _connection.CreateCommand();
        info.CommandText = $"PRAGMA table_info({table})";
        using var reader = info.ExecuteReader();
        while (reader.Read())
        {
            if (string.Equals(reader.GetString(1), column, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }
        return false;
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

    private static List<DetectedEvent> Read(SqliteCommand select)
    {
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

    public void Dispose()
    {
        lock (_lock)
        {
            _connection.Dispose();
        }
    }
}

/// <summary>A stored event's files and when it was stored (Unix ms), for retention.</summary>
public sealed record StoredEventFiles(string Id, string? Snapshot, string? Clip, double StoredMs);

/// <summary>Which events to list; null = any. Times are the events' start, in the same milliseconds as <see cref="DetectedEvent.StartMs"/>.</summary>
public sealed record EventFilter(string? Stream = null, string? Kind = null, double? FromMs = null, double? ToMs = null, double? MinScore = null);

/// <summary>Where the next page starts: after the event with this start time and id.</summary>
public sealed record EventCursor(double StartMs, string Id)
{
    /// <summary>An opaque URL-safe token for clients.</summary>
    public string Encode() =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{StartMs:R}|{Id}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static bool TryDecode(string token, out EventCursor? cursor)
    {
        cursor = null;
        var base64 = token.Replace('-', '+').Replace('_', '/');
        base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
        var bytes = new byte[base64.Length];
        if (!Convert.TryFromBase64String(base64, bytes, out var written))
        {
            return false;
        }
        var text = System.Text.Encoding.UTF8.GetString(bytes, 0, written);
        var bar = text.IndexOf('|', StringComparison.Ordinal);
        if (bar <= 0 || !double.TryParse(text.AsSpan(0, bar), NumberStyles.Float, CultureInfo.InvariantCulture, out var startMs))
        {
            return false;
        }
        cursor = new EventCursor(startMs, text[(bar + 1)..]);
        return true;
    }
}

/// <summary>Events newest first, and where the next page starts (null on the last page).</summary>
public sealed record EventPage(List<DetectedEvent> Events, EventCursor? Next);
