using System.Diagnostics;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Tests;
using Microsoft.Extensions.Logging;
using Xunit.Abstractions;
using static Edge.Pipeline.Tests.Delivery.DeliveryTestData;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>Delivery to a real mosquitto broker that goes away and comes back, counted by a real subscriber.</summary>
public sealed class MqttDeliveryTests(ITestOutputHelper output) : IDisposable
{
    private const string Password = "mqtt-s3cret-pw";
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public async Task Deliver_BrokerDown30sWhileEventsArrive_EveryEventArrives()
    {
        using var broker = new MosquittoBroker();
        broker.Start();
        await using var subscriber = await EventSubscriber.ConnectAsync(broker.Port, "edge/#");
        var options = Mqtt(_folder, broker.Port, Password);
        var logger = new ListLogger();
        using var outbox = new EventOutbox(options);
        using var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox);
        await using var delivery = new EventDelivery(outbox, options, logger);
        await delivery.StartAsync(CancellationToken.None);
        var sent = new List<string>();
        var adding = new Stopwatch();
        void Add(int n)
        {
            var e = Event(n);
            adding.Start();
            store.Add(e);
            adding.Stop();
            sent.Add(e.Id);
        }

        for (var n = 0; n < 10; n++)
        {
            Add(n);
        }
        Assert.True(await subscriber.WaitForAsync(sent, TimeSpan.FromSeconds(10)), "the first events arrive while the broker is up");
        Assert.True(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(5), CancellationToken.None));

        // The broker goes away for 30 s while events keep coming, two a second.
        broker.Stop();
        var down = Stopwatch.StartNew();
        while (down.Elapsed < TimeSpan.FromSeconds(30))
        {
            Add(sent.Count);
            await Task.Delay(500);
        }
        var pendingWhileDown = outbox.Count(DeliveryTargets.Mqtt).Pending;
        broker.Start();
        var restarted = Stopwatch.StartNew();
        for (var i = 0; i < 10; i++)
        {
            Add(sent.Count);
            await Task.Delay(50);
        }

        var all = await subscriber.WaitForAsync(sent, TimeSpan.FromSeconds(30));
        var recoveredSeconds = restarted.Elapsed.TotalSeconds;
        Assert.True(all, $"missing {sent.Count(id => !subscriber.Received.ContainsKey(id))} of {sent.Count} events; broker log: {broker.Log}");
        Assert.True(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        output.WriteLine($"{sent.Count} events, {pendingWhileDown} pending at the end of the outage, {subscriber.Messages} messages received " +
            $"({subscriber.Messages - subscriber.Received.Count} repeats), all in {recoveredSeconds:0.0} s after the restart; " +
            $"storing and queueing an event took {adding.Elapsed.TotalMilliseconds / sent.Count:0.0} ms on average");

        Assert.Equal(sent.Count - 10 - 10, pendingWhileDown); // every event of the outage waited in the outbox
        Assert.Equal(sent.Count, subscriber.Received.Count);
        Assert.Equal(sent.ToHashSet(), subscriber.Received.Keys.ToHashSet());
        var counts = Assert.Single(delivery.Counts());
        Assert.Equal(new DeliveryCounts(DeliveryTargets.Mqtt, sent.Count, 0, 0), counts);
        Assert.Equal(["edge/test-device/cam-1/events"], subscriber.Topics);
        // The log tells the story once: connected, failing, resumed, connected; no line per attempt above debug.
        var told = logger.Entries.Where(e => e.Level >= LogLevel.Information).Select(e => e.Message).ToList();
        output.WriteLine(string.Join("\n", told));
        Assert.Equal(1, told.Count(m => m.Contains("failing:", StringComparison.Ordinal)));
        Assert.Equal(1, told.Count(m => m.Contains("resumed after", StringComparison.Ordinal)));
        Assert.Equal(2, told.Count(m => m.StartsWith("Connected to MQTT broker", StringComparison.Ordinal)));
        Assert.True(told.Count <= 6, string.Join("\n", told));
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains(Password, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Deliver_EdgeRestartsWithEventsPending_TheNextDeliverySendsThemAll()
    {
        using var broker = new MosquittoBroker();
        broker.Start();
        await using var subscriber = await EventSubscriber.ConnectAsync(broker.Port, "edge/#");
        broker.Stop(); // the subscriber's session stays on the broker's disk
        var options = Mqtt(_folder, broker.Port);
        var sent = new List<string>();

        // Edge runs with the broker down, then stops with everything pending.
        using (var outbox = new EventOutbox(options))
        using (var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox))
        {
            await using var delivery = new EventDelivery(outbox, options, new ListLogger());
            await delivery.StartAsync(CancellationToken.None);
            for (var n = 0; n < 20; n++)
            {
                var e = Event(n);
                store.Add(e);
                sent.Add(e.Id);
            }
            Assert.False(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(2), CancellationToken.None));
            Assert.Equal(new DeliveryCounts(DeliveryTargets.Mqtt, 0, 0, 20), Assert.Single(delivery.Counts()));
        }

        // Edge starts again on the same outbox; then the broker comes back.
        var logger = new ListLogger();
        using var reopened = new EventOutbox(options);
        await using var restarted = new EventDelivery(reopened, options, logger);
        await restarted.StartAsync(CancellationToken.None);
        broker.Start();

        Assert.True(await subscriber.WaitForAsync(sent, TimeSpan.FromSeconds(20)),
            $"missing {sent.Count(id => !subscriber.Received.ContainsKey(id))} of {sent.Count} events");
        Assert.True(await restarted.WaitForDeliveryAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Equal(new DeliveryCounts(DeliveryTargets.Mqtt, 20, 0, 0), Assert.Single(restarted.Counts()));
        Assert.Equal(sent.ToHashSet(), subscriber.Received.Keys.ToHashSet());
        Assert.Contains(logger.Entries, e => e.Message.StartsWith("Delivering events to mqtt mqtt://127.0.0.1:", StringComparison.Ordinal) && e.Message.EndsWith("; 20 pending", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
