using System.Globalization;
using Edge.Pipeline.Delivery;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Events;

/// <summary>
/// Keeps the live service's events within their age and disk budget (<see cref="RetentionOptions"/>), oldest first:
/// rows of the event store with their snapshots and clips, the daily JSON-lines files whose events are all gone, and
/// the delivery outbox's done messages (never a pending one). <see cref="CleanOrphans"/> runs once at start, before
/// any stream: it removes what a killed process left (clips being recorded, staging files, files of events that were
/// never stored) and forgets files a stored event names but that are gone, so every stored event is whole.
/// <see cref="RunAsync"/> applies retention at start and then periodically. Owns nothing: the store, the outbox and
/// the folder are the service's, and must outlive it.
/// </summary>
public sealed class EventRetention(SqliteEventStore store, string eventsFolder, EventOutbox? outbox, RetentionOptions options, ILogger logger)
{
    private const int AgeBatch = 500;
    private const int BudgetBatch = 50;
    private bool _overBudgetReported;

    /// <summary>Disk the events use now: the store's pages in use and every file of the events folder.</summary>
    public long UsageBytes() => store.UsedBytes() + FolderBytes();

    /// <summary>Removes what an earlier process left half-done; call before any stream of this folder starts.</summary>
    public OrphanCleanup CleanOrphans()
    {
        if (!Directory.Exists(eventsFolder))
        {
            return new OrphanCleanup(0, 0, 0);
        }
        var named = store.FileNames();
        var staging = 0;
        var orphans = 0;
        foreach (var file in Directory.EnumerateFiles(eventsFolder))
        {
            var name = Path.GetFileName(file);
            if (IsStaging(name))
            {
                File.Delete(file);
                staging++;
            }
            else if (name.StartsWith("event-", StringComparison.Ordinal)
                && (name.EndsWith(".jpg", StringComparison.Ordinal) || name.EndsWith(".avi", StringComparison.Ordinal))
                && !named.Contains(name))
            {
                // The event's files were written but the process died before its row was: it was never stored.
                File.Delete(file);
                orphans++;
            }
        }
        var forgotten = store.ForgetMissingFiles(name => File.Exists(Path.Combine(eventsFolder, name)));
        var cleanup = new OrphanCleanup(staging, orphans, forgotten);
        if (staging + orphans + forgotten > 0)
        {
            logger.LogInformation("Events folder {Folder}: removed {Staging} unfinished clip or staging file(s) and {Orphans} file(s) of events never stored; {Forgotten} stored event file reference(s) to missing files cleared",
                eventsFolder, staging, orphans, forgotten);
        }
        return cleanup;
    }

    /// <summary>One pass: by age, then by disk budget (oldest first), then JSON lines and the outbox.</summary>
    public RetentionPass Apply(DateTimeOffset now)
    {
        var deleted = 0;
        long freed = 0;
        if (options.MaxAgeDays > 0)
        {
            var before = now.AddDays(-options.MaxAgeDays).ToUnixTimeMilliseconds();
            while (store.Oldest(AgeBatch, before) is { Count: > 0 } old)
            {
                var (count, bytes) = DeleteEvents(old);
                (deleted, freed) = (deleted + count, freed + bytes);
            }
        }
        var budget = options.MaxDiskBytes;
        var usage = UsageBytes();
        if (budget > 0)
        {
            while (usage > budget && store.Oldest(BudgetBatch) is { Count: > 0 } oldest)
            {
                // One event at a time within a batch: delete only as much as the budget needs, the oldest first.
                foreach (var one in oldest)
                {
                    var (count, bytes) = DeleteEvents([one]);
                    (deleted, freed) = (deleted + count, freed + bytes);
                    usage -= bytes;
                    if (usage <= budget)
                    {
                        break;
                    }
                }
                usage = UsageBytes();
            }
        }
        var jsonLines = DeleteOldJsonLines(now);
        store.Compact();
        usage = UsageBytes();
        if (budget > 0 && usage > budget)
        {
            if (!_overBudgetReported)
            {
                logger.LogWarning("Events use {Usage:0.0} MB, above Retention:MaxDiskMb {Budget:0.0} MB, with no stored event left to delete (clips being recorded and today's JSON lines stay)",
                    usage / 1048576.0, budget / 1048576.0);
            }
            _overBudgetReported = true;
        }
        else
        {
            _overBudgetReported = false;
        }
        var outboxDeleted = outbox?.Prune(TimeSpan.FromHours(options.KeepDeliveredHours),
            TimeSpan.FromDays(options.MaxAgeDays > 0 ? options.MaxAgeDays : 36_500), options.OutboxMaxBytes, now).Deleted ?? 0;
        var pass = new RetentionPass(deleted, freed, jsonLines, outboxDeleted, usage);
        if (deleted + jsonLines + outboxDeleted > 0)
        {
            logger.LogInformation("Retention: deleted {Events} event(s) ({Freed:0.0} MB of files), {JsonLines} JSON-lines file(s), {Outbox} done outbox message(s); events use {Usage:0.0} MB of {Budget}",
                deleted, freed / 1048576.0, jsonLines, outboxDeleted, usage / 1048576.0, budget > 0 ? $"{budget / 1048576.0:0.0} MB" : "no budget");
        }
        return pass;
    }

    /// <summary>How often, between passes, the disk use is compared with the budget (a pass runs at once when it is over).</summary>
    public static readonly TimeSpan BudgetCheck = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Applies retention now and then every <see cref="RetentionOptions.IntervalSeconds"/> until cancelled; in between,
    /// every <see cref="BudgetCheck"/>, a disk use above the budget runs a pass at once, so that busy streams overshoot
    /// it by seconds of recording, not by a whole interval.
    /// </summary>
    public async Task RunAsync(CancellationToken ct)
    {
        var interval = TimeSpan.FromSeconds(options.IntervalSeconds);
        using var timer = new PeriodicTimer(interval < BudgetCheck ? interval : BudgetCheck);
        var lastPass = System.Diagnostics.Stopwatch.GetTimestamp();
        var first = true;
        try
        {
            do
            {
                try
                {
                    var due = first || System.Diagnostics.Stopwatch.GetElapsedTime(lastPass) >= interval - TimeSpan.FromMilliseconds(100)
                        || (options.MaxDiskBytes > 0 && await Task.Run(UsageBytes, ct).ConfigureAwait(false) > options.MaxDiskBytes);
                    first = false;
                    if (!due)
                    {
                        continue;
                    }
                    lastPass = System.Diagnostics.Stopwatch.GetTimestamp();
                    await Task.Run(() => Apply(DateTimeOffset.UtcNow), ct).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A full disk or a locked file must not end the service: the next pass tries again.
                    logger.LogWarning("Retention pass failed, trying again in {Seconds} s: {Error}", options.IntervalSeconds, ex.Message);
                }
            }
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Rows first, then files: a crash in between leaves orphan files, which the next start removes.</summary>
    private (int Deleted, long Freed) DeleteEvents(IReadOnlyList<StoredEventFiles> events)
    {
        var deleted = store.Delete([.. events.Select(e => e.Id)]);
        long freed = 0;
        foreach (var name in events.SelectMany(e => new[] { e.Snapshot, e.Clip }).OfType<string>())
        {
            var file = new FileInfo(Path.Combine(eventsFolder, name));
            if (file.Exists)
            {
                freed += file.Length;
                file.Delete();
            }
        }
        return (deleted, freed);
    }

    /// <summary>
    /// Daily JSON-lines files older than the oldest stored event's day hold only deleted events; files without a day
    /// in their name go by their last write.
    /// </summary>
    private int DeleteOldJsonLines(DateTimeOffset now)
    {
        if (!Directory.Exists(eventsFolder))
        {
            return 0;
        }
        var oldest = store.Oldest(1) is [var first] ? DateTimeOffset.FromUnixTimeMilliseconds((long)first.StoredMs).UtcDateTime.Date : now.UtcDateTime.Date;
        var keepFrom = oldest < now.UtcDateTime.Date ? oldest : now.UtcDateTime.Date;
        var deleted = 0;
        foreach (var file in Directory.EnumerateFiles(eventsFolder, "*.jsonl"))
        {
            if (DayOf(file) < keepFrom)
            {
                File.Delete(file);
                deleted++;
            }
        }
        return deleted;
    }

    private static DateTime DayOf(string file)
    {
        var stem = Path.GetFileNameWithoutExtension(file);
        var dash = stem.LastIndexOf('-');
        return dash >= 0 && DateTime.TryParseExact(stem[(dash + 1)..], EventsSink.DayFormat, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var day)
            ? day.Date
            : File.GetLastWriteTimeUtc(file).Date;
    }

    private static bool IsStaging(string name) =>
        (name.StartsWith("clip-", StringComparison.Ordinal) && name.EndsWith(".avi", StringComparison.Ordinal))
        || name.EndsWith(".tmp", StringComparison.Ordinal);

    private long FolderBytes()
    {
        if (!Directory.Exists(eventsFolder))
        {
            return 0;
        }
        long bytes = 0;
        foreach (var file in new DirectoryInfo(eventsFolder).EnumerateFiles())
        {
            try
            {
                bytes += file.Length;
            }
            catch (FileNotFoundException)
            {
                // Renamed or deleted while listed (a clip that just completed).
            }
        }
        return bytes;
    }

}

/// <param name="StagingFiles">Clips being recorded and staging files a killed process left.</param>
/// <param name="OrphanFiles">Snapshots and clips of events that were never stored.</param>
/// <param name="ForgottenReferences">Stored events' snapshot or clip references to files that are gone, cleared.</param>
public sealed record OrphanCleanup(int StagingFiles, int OrphanFiles, int ForgottenReferences);

/// <param name="EventsDeleted">Events deleted, by age or budget.</param>
/// <param name="FileBytesFreed">Bytes of their snapshots and clips.</param>
/// <param name="JsonLinesDeleted">Daily JSON-lines files deleted.</param>
/// <param name="OutboxDeleted">Done outbox messages deleted.</param>
/// <param name="UsageBytes">What the events use after the pass.</param>
public sealed record RetentionPass(int EventsDeleted, long FileBytesFreed, int JsonLinesDeleted, int OutboxDeleted, long UsageBytes);
