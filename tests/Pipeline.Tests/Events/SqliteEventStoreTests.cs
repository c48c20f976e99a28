using System.Text.Json;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Tests;

namespace Edge.Pipeline.Tests.Events;

public sealed class SqliteEventStoreTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void AddAndQuery_RoundTripsEventsAcrossReopen()
    {
        var path = Path.Combine(_folder, "events.db");
        var a = new DetectedEvent("a1", "cam1", DetectedEvent.AnomalyKind, "anomaly", 1000.5, 2500, 10, 25, 4.25, 17) { Snapshot = "event-a1.jpg" };
        var b = new DetectedEvent("b2", "cam2", DetectedEvent.ActivityKind, "run", 500, 900, 5, 9, 0.93, 7);
        using (var store = new SqliteEventStore(path))
        {
            store.Add(a);
            store.Add(b);
            store.Add(a with { Label = "duplicate" });
        }
        using var reopened = new SqliteEventStore(path);
        Assert.Equal([b, a], reopened.Query());
        Assert.Equal([a], reopened.Query(stream: "cam1"));
        Assert.Equal([b], reopened.Query(kind: DetectedEvent.ActivityKind));
        Assert.Empty(reopened.Query(stream: "cam3"));
    }

    [Fact]
    public async Task PageWhileAdding_FromTwoThreads_EveryEventOnceAndNoError()
    {
        using var store = new SqliteEventStore(Path.Combine(_folder, "events.db"));
        const int count = 400;
        var writer = Task.Run(() =>
        {
            for (var i = 0; i < count; i++)
            {
                store.Add(new DetectedEvent($"e{i:D4}", i % 2 == 0 ? "cam1" : "cam2", DetectedEvent.AnomalyKind, "anomaly", i * 100, i * 100 + 50, i, i + 1, i % 7, i));
            }
        });
        var reads = 0;
        while (!writer.IsCompleted)
        {
            _ = store.Page(new EventFilter(Stream: "cam1"), 50);
            reads++;
        }
        await writer;
        var seen = new List<string>();
        for (var page = store.Page(new EventFilter(), 64); ; page = store.Page(new EventFilter(), 64, page.Next))
        {
            seen.AddRange(page.Events.Select(e => e.Id));
            if (page.Next is null)
            {
                break;
            }
        }
        Assert.True(reads > 0);
        Assert.Equal(Enumerable.Range(0, count).Reverse().Select(i => $"e{i:D4}"), seen);
        Assert.Equal(count / 2, store.Page(new EventFilter(Stream: "cam2"), 500).Events.Count);
        Assert.Equal([6, 6, 6], store.Page(new EventFilter(MinScore: 6), 3).Events.Select(e => e.PeakScore));
    }

    [Fact]
    public void EventCursor_EncodeDecode_RoundTripsAndRejectsGarbage()
    {
        var cursor = new EventCursor(1_764_151_200_123.25, "3f2c|9a");
        Assert.True(EventCursor.TryDecode(cursor.Encode(), out var decoded));
        Assert.Equal(cursor, decoded);
        Assert.False(EventCursor.TryDecode("@@", out _));
        Assert.False(EventCursor.TryDecode("bm90LWEtY3Vyc29y", out _)); // "not-a-cursor"
    }

    [Fact]
    public void Add_WithOutbox_QueuesEachNewEventOncePerTargetWithItsMessage()
    {
        var options = new DeliveryOptions
        {
            OutboxPath = Path.Combine(_folder, "state", "outbox.db"),
            DeviceId = "gate-3",
            Mqtt = new MqttDeliveryOptions { Enabled = true },
            Webhook = new WebhookDeliveryOptions { Enabled = true, Url = "http://127.0.0.1:9/hook" },
        };
        var a = new DetectedEvent("a1", "cam1", DetectedEvent.AnomalyKind, "anomaly", 1000.5, 2500, 10, 25, 4.25, 17) { Snapshot = "event-a1.jpg" };
        using (var outbox = new EventOutbox(options))
        using (var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox))
        {
            store.Add(a);
            store.Add(a with { Label = "again" }); // already stored: not queued again
            Assert.Equal([DeliveryTargets.Mqtt, DeliveryTargets.Webhook], outbox.Targets);
            Assert.Equal(new OutboxCounts(1, 0, 0), outbox.Count(DeliveryTargets.Mqtt));
            Assert.Equal(new OutboxCounts(1, 0, 0), outbox.Count(DeliveryTargets.Webhook));
            var message = Assert.Single(outbox.ReadPending(DeliveryTargets.Webhook, 10));
            Assert.Equal(("a1", "cam1", 0), (message.EventId, message.StreamId, message.Attempts));
            var json = JsonDocument.Parse(message.Payload).RootElement;
            Assert.Equal("a1", json.GetProperty("id").GetString());
            Assert.Equal("gate-3", json.GetProperty("device").GetString());
            Assert.Equal("anomaly", json.GetProperty("label").GetString());
            Assert.Equal(1499.5, json.GetProperty("durationMs").GetDouble());
            Assert.Equal("event-a1.jpg", json.GetProperty("snapshot").GetString());
            outbox.MarkDelivered(message);
        }
        // Reopened (a restart): the webhook message is done, the MQTT one still pending.
        using var reopened = new EventOutbox(options);
        Assert.Equal(new OutboxCounts(0, 1, 0), reopened.Count(DeliveryTargets.Webhook));
        Assert.Equal("a1", Assert.Single(reopened.ReadPending(DeliveryTargets.Mqtt, 10)).EventId);
    }

    [Fact]
    public void Add_OutboxWriteFails_TheEventIsNotStoredEither()
    {
        var options = new DeliveryOptions { OutboxPath = Path.Combine(_folder, "outbox.db"), Mqtt = new MqttDeliveryOptions { Enabled = true } };
        var path = Path.Combine(_folder, "events.db");
        using var outbox = new EventOutbox(options);
        using (var store = new SqliteEventStore(path, outbox))
        {
            using (var other = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={options.OutboxPath};Pooling=False"))
            {
                other.Open();
                using var drop = other.CreateCommand();
                drop.CommandText = "DROP TABLE messages";
                drop.ExecuteNonQuery();
            }
            Assert.Throws<Microsoft.Data.Sqlite.SqliteException>(() => store.Add(new DetectedEvent("b2", "cam2", DetectedEvent.ActivityKind, "run", 500, 900, 5, 9, 0.93, 7)));
        }
        using var reopened = new SqliteEventStore(path);
        Assert.Empty(reopened.Query());
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
