using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;
using Edge.Tests;
using Microsoft.Extensions.Logging;
using static Edge.Pipeline.Tests.Delivery.DeliveryTestData;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>
/// Delivery over TLS to a real mosquitto whose listener has a server certificate signed by a CA the test makes with
/// openssl, and that requires a client certificate from the same CA.
/// </summary>
public sealed class MqttTlsDeliveryTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();
    private readonly TestCertificates _certificates = TestCertificates.Create();

    private DeliveryOptions Options(int port, string caFile, bool clientCertificate)
    {
        var options = Mqtt(_folder, port);
        options.Mqtt.UseTls = true;
        options.Mqtt.CaFile = caFile;
        if (clientCertificate)
        {
            options.Mqtt.CertificateFile = _certificates.ClientCertificate;
            options.Mqtt.KeyFile = _certificates.ClientKey;
        }
        return options;
    }

    [Fact]
    public async Task Deliver_TlsWithServerCaAndClientCertificate_EveryEventArrives()
    {
        using var broker = new MosquittoBroker(_certificates, requireClientCertificate: true);
        broker.Start();
        await using var subscriber = await EventSubscriber.ConnectAsync(broker.Port, "edge/#");
        var options = Options(broker.TlsPort, _certificates.CaFile, clientCertificate: true);
        Assert.Empty(DeliveryOptionsRules.Problems(options));
        var logger = new ListLogger();
        using var outbox = new EventOutbox(options);
        using var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox);
        await using var delivery = new EventDelivery(outbox, options, logger);
        await delivery.StartAsync(CancellationToken.None);
        var sent = Enumerable.Range(0, 5).Select(n => Event(n)).ToList();
        sent.ForEach(store.Add);

        Assert.True(await subscriber.WaitForAsync([.. sent.Select(e => e.Id)], TimeSpan.FromSeconds(20)), string.Join("\n", logger.Entries) + broker.Log);
        Assert.True(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(5), CancellationToken.None));
        Assert.Equal(new DeliveryCounts(DeliveryTargets.Mqtt, 5, 0, 0), Assert.Single(delivery.Counts()));
        Assert.Contains(logger.Entries, e => e.Message == $"Connected to MQTT broker mqtts://127.0.0.1:{broker.TlsPort}");
    }

    [Theory]
    [InlineData("another CA", true)]
    [InlineData("no client certificate", false)]
    public async Task Deliver_TlsNotTrusted_NothingDeliveredEverythingPending(string name, bool clientCertificate)
    {
        using var other = TestCertificates.Create();
        using var broker = new MosquittoBroker(_certificates, requireClientCertificate: true);
        broker.Start();
        // "another CA": Edge trusts a CA that did not sign the broker's certificate. "no client certificate": Edge
        // trusts the broker, but the broker wants a client certificate Edge does not have.
        var options = Options(broker.TlsPort, clientCertificate ? other.CaFile : _certificates.CaFile, clientCertificate);
        var logger = new ListLogger();
        using var outbox = new EventOutbox(options);
        using var store = new SqliteEventStore(Path.Combine(_folder, "events.db"), outbox);
        await using var delivery = new EventDelivery(outbox, options, logger);
        await delivery.StartAsync(CancellationToken.None);
        store.Add(Event(1));

        Assert.False(await delivery.WaitForDeliveryAsync(TimeSpan.FromSeconds(4), CancellationToken.None), name);
        Assert.Equal(new DeliveryCounts(DeliveryTargets.Mqtt, 0, 0, 1), Assert.Single(delivery.Counts()));
        Assert.Contains(logger.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("failing", StringComparison.Ordinal));
        Assert.DoesNotContain(logger.Entries, e => e.Message.StartsWith("Connected to MQTT broker", StringComparison.Ordinal));
    }

    public void Dispose()
    {
        _certificates.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
