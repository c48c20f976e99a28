using System.Text;
using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Tests;
using Microsoft.Extensions.Logging;
using static Edge.Pipeline.Tests.Delivery.DeliveryTestData;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>Delivery to a real local HTTP server that fails, throttles, refuses and accepts.</summary>
public sealed class WebhookDeliveryTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public async Task Deliver_ServerFailsThenAccepts_EveryEventArrivesInOrderAndA400IsMarkedFailed()
    {
        // Two 503s and a 429 with Retry-After, then it accepts everything but the event labelled "malformed".
        using var receiver = new WebhookReceiver((n, body) => n switch
        {
            0 or 1 => (503, null),
            2 => (429, "1"),
            _ => body.GetProperty("label").GetString() == "malformed" ? (400, null) : (200, null),
        });
        var options = new DeliveryOptions
        {
            OutboxPath = Path.Combine(_folder, "outbox.db"),
            DeviceId = Device,
            MaxBackoffMs = 2000,
            Webhook = new WebhookDeliveryOptions { Enabled = true, Url = $"http://edge:hook-s3cret@127.0.0.1:{receiver.Port}/hook/?token=tok-s3cret", TimeoutMs = 2000 },
        };
        var logger = new ListLogger();
        using var outbox = new EventOutbox(options);
        using var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox);
        await using var delivery = new EventDelivery(outbox, options, logger);
        var events = Enumerable.Range(0, 10).Select(n => Event(n, n == 4 ? "malformed" : "anomaly")).ToList();
        foreach (var e in events)
        {
            store.Add(e);
        }

        await delivery.StartAsync(CancellationToken.None);

        Assert.True(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(20), CancellationToken.None));
        var requests = receiver.Requests;
        Assert.Equal([503, 503, 429], requests.Take(3).Select(r => r.Status));
        Assert.All(requests.Take(4), r => Assert.Equal(events[0].Id, r.Id)); // the first event, until it goes through
        var accepted = requests.Where(r => r.Status == 200).Select(r => r.Id).ToList();
        Assert.Equal(events.Where(e => e.Label != "malformed").Select(e => e.Id), accepted); // each once, in order
        var refused = Assert.Single(requests, r => r.Status == 400); // refused once, never retried
        Assert.Equal(events[4].Id, refused.Id);
        Assert.Equal(3 + 10, requests.Count);
        Assert.Equal(new DeliveryCounts(DeliveryTargets.Webhook, 9, 1, 0), Assert.Single(delivery.Counts()));
        Assert.Equal(new OutboxCounts(0, 9, 1), outbox.Count(DeliveryTargets.Webhook));

        // The message: the event with its id (also the Idempotency-Key) and the device; the URL's credentials are used.
        Assert.All(requests, r => Assert.Equal(r.Id, r.IdempotencyKey));
        Assert.All(requests, r => Assert.Equal("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("edge:hook-s3cret")), r.Authorization));
        Assert.All(requests, r => Assert.Equal("?token=tok-s3cret", r.Query));
        var body = requests[^1].Body;
        Assert.Equal(Device, body.GetProperty("device").GetString());
        Assert.Equal("cam-1", body.GetProperty("stream").GetString());
        Assert.Equal(events[9].StartMs, body.GetProperty("startMs").GetDouble());
        Assert.Equal(events[9].PeakScore, body.GetProperty("peakScore").GetDouble());

        var warnings = logger.Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message).ToList();
        Assert.Equal(2, warnings.Count); // failing once, refused once
        Assert.Contains(warnings, m => m.Contains("HTTP 400", StringComparison.Ordinal) && m.Contains(events[4].Id, StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("s3cret", StringComparison.Ordinal));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
