using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Tests;
using Microsoft.Data.Sqlite;
using OpenCvSharp;

namespace Edge.Pipeline.Tests.Events;

/// <summary>Retention on a real store and real files: oldest first, within the budget, and nothing half-done left after a crash.</summary>
public sealed class EventRetentionTests : IDisposable
{
    private readonly string _data = TestData.NewTempFolder();
    private readonly string _folder;
    private readonly byte[] _jpeg;

    public EventRetentionTests()
    {
        _folder = Path.Combine(_data, "events");
        Directory.CreateDirectory(_folder);
        using var capture = new VideoCapture(TestData.VtestShort);
        using var frame = new Mat();
        Assert.True(capture.Read(frame));
        Cv2.ImEncode(".jpg", frame, out _jpeg);
    }

    /// <summary>Stores event n with a real JPEG snapshot and a 100 kB clip file, stored n hours after <paramref name="zero"/>.</summary>
    private DetectedEvent Store(SqliteEventStore store, int n, DateTimeOffset zero)
    {
        var e = new DetectedEvent($"e{n:D3}", "cam", DetectedEvent.AnomalyKind, "anomaly", n * 1000.0, n * 1000.0 + 500, n * 10, n * 10 + 5, 2, n * 10 + 2)
        {
            Snapshot = $"event-e{n:D3}.jpg",
            Clip = $"event-e{n:D3}.avi",
        };
        File.WriteAllBytes(Path.Combine(_folder, e.Snapshot), _jpeg);
        File.WriteAllBytes(Path.Combine(_folder, e.Clip), new byte[100_000]);
        store.Add(e);
        SetStored(store.Path, e.Id, zero.AddHours(n));
        return e;
    }

    private static void SetStored(string database, string id, DateTimeOffset when)
    {
        using var connection = new SqliteConnection($"Data Source={database};Pooling=False");
        connection.Open();
        using var update = connection.CreateCommand();
        update.CommandText = "UPDATE events SET stored_ms = $ms WHERE id = $id";
        update.Parameters.AddWithValue("$ms", (double)when.ToUnixTimeMilliseconds());
        update.Parameters.AddWithValue("$id", id);
        Assert.Equal(1, update.ExecuteNonQuery());
    }

    [Fact]
    public async Task RunAsync_GoesOverTheBudgetBetweenPasses_PassesAtOnceNotAtTheNextInterval()
    {
        using var store = new SqliteEventStore(Path.Combine(_data, SqliteEventStore.FileName));
        var zero = DateTimeOffset.UtcNow.AddDays(-1);
        var perEvent = 100_000 + _jpeg.Length;
        var options = new RetentionOptions { MaxAgeDays = 0, MaxDiskMb = (4.5 * perEvent + 64 * 1024) / 1048576.0, IntervalSeconds = 3600 };
        var retention = new EventRetention(store, _folder, null, options, new ListLogger());
        using var stop = new CancellationTokenSource();
        var running = retention.RunAsync(stop.Token);
        await Task.Delay(500); // the first pass, within the budget
        for (var n = 0; n < 8; n++)
        {
            Store(store, n, zero);
        }
        Assert.True(retention.UsageBytes() > options.MaxDiskBytes);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (retention.UsageBytes() > options.MaxDiskBytes)
        {
            Assert.True(clock.Elapsed < EventRetention.BudgetCheck * 3, "over the budget for three budget checks with the next pass an hour away");
            await Task.Delay(100);
        }
        Assert.Equal(["e004", "e005", "e006", "e007"], store.Query().Select(e => e.Id).Order().ToList());
        await stop.CancelAsync();
        await running;
    }

    [Fact]
    public void Apply_OverTheDiskBudget_DeletesTheOldestFirstUntilItFits()
    {
        using var store = new SqliteEventStore(Path.Combine(_data, SqliteEventStore.FileName));
        var zero = DateTimeOffset.UtcNow.AddDays(-1);
        // Stored out of order, so the order of deletion is the stored time, not the insertion.
        foreach (var n in new[] { 3, 0, 5, 1, 4, 2, 7, 6, 9, 8 })
        {
            Store(store, n, zero);
        }
        var perEvent = 100_000 + _jpeg.Length;
        var options = new RetentionOptions { MaxAgeDays = 0, MaxDiskMb = (4.5 * perEvent + 64 * 1024) / 1048576.0 };
        var retention = new EventRetention(store, _folder, null, options, new ListLogger());
        Assert.True(retention.UsageBytes() > options.MaxDiskBytes);

        var pass = retention.Apply(DateTimeOffset.UtcNow);

        var left = store.Query().Select(e => e.Id).Order().ToList();
        Assert.Equal(["e006", "e007", "e008", "e009"], left);
        Assert.Equal(6, pass.EventsDeleted);
        Assert.Equal(6 * perEvent, pass.FileBytesFreed);
        Assert.True(pass.UsageBytes <= options.MaxDiskBytes, $"{pass.UsageBytes} > {options.MaxDiskBytes}");
        Assert.Equal(pass.UsageBytes, retention.UsageBytes());
        // Exactly the files of the events left remain.
        Assert.Equal(left.SelectMany(id => new[] { $"event-{id}.avi", $"event-{id}.jpg" }).Order(),
            Directory.GetFiles(_folder).Select(Path.GetFileName).Order());
        // A second pass within the budget deletes nothing.
        Assert.Equal(0, retention.Apply(DateTimeOffset.UtcNow).EventsDeleted);
    }

    [Fact]
    public void Apply_EventsOlderThanMaxAge_DeletedWithTheirFilesAndDailyJsonLines()
    {
        using var store = new SqliteEventStore(Path.Combine(_data, SqliteEventStore.FileName));
        var now = new DateTimeOffset(2030, 6, 15, 12, 0, 0, TimeSpan.Zero);
        var zero = now.AddDays(-10);
        for (var n = 0; n < 10; n++)
        {
            Store(store, n * 24, zero); // one a day, 10 down to 1 days old
        }
        foreach (var day in new[] { 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 })
        {
            File.WriteAllText(Path.Combine(_folder, $"cam.events-203006{day:D2}.jsonl"), "{}\n");
        }
        var retention = new EventRetention(store, _folder, null, new RetentionOptions { MaxAgeDays = 3.5, MaxDiskMb = 0 }, new ListLogger());

        var pass = retention.Apply(now);

        // Stored 10, 9, ... 4 days ago: gone; 3, 2, 1 days ago: kept (e168 is 3 days old, e192 2, e216 1).
        Assert.Equal(["e168", "e192", "e216"], store.Query().Select(e => e.Id).Order());
        Assert.Equal(7, pass.EventsDeleted);
        // The JSON lines of days before the oldest event left (June 12) hold only deleted events.
        Assert.Equal(7, pass.JsonLinesDeleted);
        Assert.Equal(["cam.events-20300612.jsonl", "cam.events-20300613.jsonl", "cam.events-20300614.jsonl", "cam.events-20300615.jsonl"],
            Directory.GetFiles(_folder, "*.jsonl").Select(Path.GetFileName).Order());
        Assert.Equal(6, Directory.GetFiles(_folder, "event-*").Length);
    }

    [Fact]
    public void CleanOrphans_AfterAKill_RemovesUnfinishedFilesAndForgetsMissingOnes()
    {
        using var store = new SqliteEventStore(Path.Combine(_data, SqliteEventStore.FileName));
        var whole = Store(store, 1, DateTimeOffset.UtcNow);
        var clipGone = Store(store, 2, DateTimeOffset.UtcNow);
        File.Delete(Path.Combine(_folder, clipGone.Clip!));
        // What a process killed mid-event leaves: a clip being recorded, a snapshot being written, and the snapshot of
        // an event that ended but was not stored yet (it waited for its post-roll).
        File.WriteAllBytes(Path.Combine(_folder, "clip-0123456789abcdef0123456789abcdef.avi"), new byte[5000]);
        File.WriteAllBytes(Path.Combine(_folder, "event-e999.jpg.tmp"), _jpeg[..100]);
        File.WriteAllBytes(Path.Combine(_folder, "event-e999.jpg"), _jpeg);
        File.WriteAllText(Path.Combine(_folder, "cam.events-20300101.jsonl"), "{}\n");
        var retention = new EventRetention(store, _folder, null, new RetentionOptions(), new ListLogger());

        var cleanup = retention.CleanOrphans();

        Assert.Equal(new OrphanCleanup(StagingFiles: 2, OrphanFiles: 1, ForgottenReferences: 1), cleanup);
        Assert.Equal(new[] { "cam.events-20300101.jsonl", whole.Clip!, whole.Snapshot!, clipGone.Snapshot! }.Order(StringComparer.Ordinal),
            Directory.GetFiles(_folder).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        // Every stored event refers only to files that exist.
        Assert.Null(store.Find(clipGone.Id)!.Clip);
        Assert.Equal(clipGone.Snapshot, store.Find(clipGone.Id)!.Snapshot);
        Assert.Equal(whole, store.Find(whole.Id));
        Assert.Equal(new OrphanCleanup(0, 0, 0), retention.CleanOrphans());
    }

    [Fact]
    public void Apply_Outbox_DeliveredMessagesGoByAgeAndBudgetPendingOnesStay()
    {
        var options = new DeliveryOptions
        {
            OutboxPath = Path.Combine(_data, "outbox.db"),
            Webhook = new WebhookDeliveryOptions { Enabled = true, Url = "http://127.0.0.1:9/hook" },
        };
        using var outbox = new EventOutbox(options);
        using var store = new SqliteEventStore(Path.Combine(_data, SqliteEventStore.FileName), outbox);
        for (var n = 0; n < 600; n++)
        {
            store.Add(new DetectedEvent($"m{n:D4}", "cam", DetectedEvent.AnomalyKind, new string('x', 400), n, n + 1, n, n + 1, 2, n));
        }
        var pending = outbox.ReadPending(DeliveryTargets.Webhook, 1000);
        foreach (var message in pending.Take(500))
        {
            outbox.MarkDelivered(message);
        }
        var retention = new EventRetention(store, _folder, outbox, new RetentionOptions { MaxAgeDays = 0, MaxDiskMb = 0, KeepDeliveredHours = 1, OutboxMaxMb = 0 }, new ListLogger());

        // An hour later nothing is old enough; two hours later every delivered message is.
        Assert.Equal(0, retention.Apply(DateTimeOffset.UtcNow.AddMinutes(30)).OutboxDeleted);
        Assert.Equal(500, retention.Apply(DateTimeOffset.UtcNow.AddHours(2)).OutboxDeleted);
        Assert.Equal(new OutboxCounts(100, 0, 0), outbox.Count(DeliveryTargets.Webhook));

        // A budget far below what the pending messages take: they stay all the same.
        var tight = new EventRetention(store, _folder, outbox, new RetentionOptions { MaxAgeDays = 0, MaxDiskMb = 0, KeepDeliveredHours = 1000, OutboxMaxMb = 0.001 }, new ListLogger());
        Assert.Equal(0, tight.Apply(DateTimeOffset.UtcNow).OutboxDeleted);
        Assert.Equal(100, outbox.Count(DeliveryTargets.Webhook).Pending);
    }

    public void Dispose() => Directory.Delete(_data, recursive: true);
}
