using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>
/// An MQTT subscriber (MQTTnet) that counts the event ids it receives. Its session is persistent (clean session off,
/// QoS 1), so the broker queues messages for it while it is disconnected; it reconnects by itself when the broker
/// comes back. It owns its client; disposing stops reconnecting and closes it.
/// </summary>
public sealed class EventSubscriber : IAsyncDisposable
{
    private readonly IMqttClient _client = new MqttClientFactory().CreateMqttClient();
    private readonly MqttClientOptions _options;
    private readonly string _topicFilter;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, int> _received = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _topics = new(StringComparer.Ordinal);
    private Task _reconnect = Task.CompletedTask;
    private int _messages;

    private EventSubscriber(int port, string topicFilter)
    {
        _topicFilter = topicFilter;
        _options = new MqttClientOptionsBuilder()
            .WithTcpServer("127.0.0.1", port)
            .WithClientId("edge-tests-subscriber-" + Guid.NewGuid().ToString("N")[..8])
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithCleanSession(false)
            .Build();
        _client.ApplicationMessageReceivedAsync += e =>
        {
            var id = JsonDocument.Parse(e.ApplicationMessage.ConvertPayloadToString()).RootElement.GetProperty("id").GetString()!;
            _received.AddOrUpdate(id, 1, (_, n) => n + 1);
            _topics.TryAdd(e.ApplicationMessage.Topic, 0);
            Interlocked.Increment(ref _messages);
            return Task.CompletedTask;
        };
    }

    /// <summary>Messages received, repeats included.</summary>
    public int Messages => Volatile.Read(ref _messages);

    public IReadOnlyDictionary<string, int> Received => _received;

    public IReadOnlyCollection<string> Topics => [.. _topics.Keys];

    public static async Task<EventSubscriber> ConnectAsync(int port, string topicFilter)
    {
        var subscriber = new EventSubscriber(port, topicFilter);
        await subscriber.ConnectOnceAsync();
        subscriber._reconnect = subscriber.KeepConnectedAsync();
        return subscriber;
    }

    /// <summary>True once every id in <paramref name="ids"/> has arrived at least once.</summary>
    public async Task<bool> WaitForAsync(IReadOnlyCollection<string> ids, TimeSpan timeout)
    {
        var waited = Stopwatch.StartNew();
        while (!ids.All(_received.ContainsKey))
        {
            if (waited.Elapsed > timeout)
            {
                return false;
            }
            await Task.Delay(50);
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _reconnect;
        _client.Dispose();
        _stop.Dispose();
    }

    private async Task ConnectOnceAsync()
    {
        await _client.ConnectAsync(_options, _stop.Token);
        await _client.SubscribeAsync(new MqttClientSubscribeOptionsBuilder()
            .WithTopicFilter(_topicFilter, MqttQualityOfServiceLevel.AtLeastOnce).Build(), _stop.Token);
    }

    private async Task KeepConnectedAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(200, _stop.Token);
                if (!_client.IsConnected)
                {
                    await ConnectOnceAsync();
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception) when (!_stop.IsCancellationRequested)
            {
                // The broker is still down: try again shortly.
            }
        }
    }
}
