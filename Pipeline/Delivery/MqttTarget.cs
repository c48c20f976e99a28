using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Edge.Pipeline.Delivery;

/// <summary>
/// Publishes each message with QoS 1 on <c>{prefix}/{device}/{stream}/events</c> and counts it delivered only when
/// the broker acknowledges it (PUBACK). Connects on the first message and again after the connection is lost. Owns
/// its MQTT client.
/// </summary>
internal sealed class MqttTarget : IDeliveryTarget
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly IMqttClient _client;
    private readonly MqttClientOptions _options;
    private readonly string _prefix;
    private readonly string _device;
    private readonly ILogger _logger;

    public MqttTarget(DeliveryOptions options, ILogger logger)
    {
        var mqtt = options.Mqtt;
        _logger = logger;
        _prefix = mqtt.TopicPrefix;
        _device = options.Device;
        _client = new MqttClientFactory().CreateMqttClient();
        var builder = new MqttClientOptionsBuilder()
            .WithTcpServer(mqtt.Host, mqtt.Port)
            .WithClientId(string.IsNullOrEmpty(mqtt.ClientId) ? $"edge-{_device}-{Guid.NewGuid().ToString("N")[..8]}" : mqtt.ClientId)
            .WithProtocolVersion(MqttProtocolVersion.V311)
            .WithCleanSession(true) // the outbox, not a broker session, keeps what is not yet acknowledged
            .WithTimeout(s_timeout)
            .WithKeepAlivePeriod(TimeSpan.FromSeconds(15));
        if (mqtt.Username.Length > 0)
        {
            builder.WithCredentials(mqtt.Username, mqtt.Password);
        }
        _options = builder.Build();
        Endpoint = $"mqtt://{mqtt.Host}:{mqtt.Port}";
    }

    public string Target => DeliveryTargets.Mqtt;

    public string Endpoint { get; }

    /// <summary>The topic of a stream's events; characters MQTT reserves ('/', '+', '#') in the stream id become '_'.</summary>
    public static string TopicFor(string prefix, string device, string streamId)
    {
        var level = streamId.Length == 0 ? "_" : streamId.Replace('/', '_').Replace('+', '_').Replace('#', '_');
        return $"{prefix}/{device}/{level}/events";
    }

    public async Task<SendOutcome> SendAsync(OutboxMessage message, CancellationToken ct)
    {
        if (!_client.IsConnected)
        {
            try
            {
                await _client.ConnectAsync(_options, ct).ConfigureAwait(false);
            }
            catch (Exception ex) when (!ct.IsCancellationRequested)
            {
                return SendOutcome.Retry($"cannot connect to {Endpoint}: {ex.Message}");
            }
            _logger.LogInformation("Connected to MQTT broker {Endpoint}", Endpoint);
        }
        var publish = new MqttApplicationMessageBuilder()
            .WithTopic(TopicFor(_prefix, _device, message.StreamId))
            .WithPayload(Encoding.UTF8.GetBytes(message.Payload))
            .WithQualityOfServiceLevel(MqttQualityOfServiceLevel.AtLeastOnce)
            .Build();
        try
        {
            var result = await _client.PublishAsync(publish, ct).ConfigureAwait(false);
            return result.IsSuccess ? SendOutcome.Delivered : SendOutcome.Retry($"broker answered {result.ReasonCode}");
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            return SendOutcome.Retry($"publish to {Endpoint} failed: {ex.Message}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_client.IsConnected)
        {
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await _client.DisconnectAsync(new MqttClientDisconnectOptions(), timeout.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                // The broker is gone or slow: the socket is closed by Dispose all the same.
            }
        }
        _client.Dispose();
    }
}
