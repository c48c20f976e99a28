using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MQTTnet;
using MQTTnet.Formatter;
using MQTTnet.Protocol;

namespace Edge.Pipeline.Delivery;

/// <summary>
/// Publishes each message with QoS 1 on <c>{prefix}/{device}/{stream}/events</c> and counts it delivered only when
/// the broker acknowledges it (PUBACK). Connects on the first message and again after the connection is lost. With
/// <see cref="MqttDeliveryOptions.UseTls"/> it connects over TLS: the broker's certificate must chain to the configured
/// CA (or the system's roots) and name the host; a client certificate is presented when configured. Owns its MQTT
/// client and certificates.
/// </summary>
internal sealed class MqttTarget : IDeliveryTarget
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);
    private readonly IMqttClient _client;
    private readonly MqttClientOptions _options;
    private readonly string _prefix;
    private readonly string _device;
    private readonly ILogger _logger;
    private readonly X509Certificate2Collection? _trusted;
    private readonly X509Certificate2? _clientCertificate;

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
        if (mqtt.UseTls)
        {
            if (mqtt.CaFile.Length > 0)
            {
                _trusted = [];
                _trusted.ImportFromPemFile(mqtt.CaFile);
            }
            if (mqtt.CertificateFile.Length > 0)
            {
                // Exported and loaded again: TLS on Linux takes a client key only from a certificate that owns it.
                using var pem = X509Certificate2.CreateFromPemFile(mqtt.CertificateFile, mqtt.KeyFile);
                _clientCertificate = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
            }
            builder.WithTlsOptions(tls =>
            {
                tls.UseTls();
                tls.WithCertificateValidationHandler(args => Trusted(args.Certificate, args.Chain, args.SslPolicyErrors));
                if (_clientCertificate is not null)
                {
                    tls.WithClientCertificates([_clientCertificate]);
                }
            });
        }
        _options = builder.Build();
        Endpoint = $"{(mqtt.UseTls ? "mqtts" : "mqtt")}://{mqtt.Host}:{mqtt.Port}";
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

    /// <summary>
    /// The broker's certificate is accepted when the system trusts it, or, with a CA file, when it chains to that CA
    /// alone; in both cases it must name the host connected to.
    /// </summary>
    private bool Trusted(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (_trusted is null)
        {
            return errors == SslPolicyErrors.None;
        }
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
        {
            return false; // no certificate, or one for another host name
        }
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_trusted);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }
        using var server = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(server);
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
        _clientCertificate?.Dispose();
        if (_trusted is not null)
        {
            foreach (var certificate in _trusted)
            {
                certificate.Dispose();
            }
        }
    }
}
