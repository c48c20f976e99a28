using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline.Delivery;

/// <summary>Where events are delivered beyond the local files. Config section "Delivery"; both targets off by default.</summary>
public sealed class DeliveryOptions
{
    public const string Section = "Delivery";

    /// <summary>
    /// SQLite file holding every event not yet delivered. It outlives a run's output folder, so what one run could not
    /// deliver goes out on the next run or from the service.
    /// </summary>
    public string OutboxPath { get; set; } = "out/outbox.db";

    /// <summary>Names this machine in every message and MQTT topic; empty = the host name.</summary>
    public string DeviceId { get; set; } = "";

    /// <summary>Longest wait between retries of a target that fails (backoff doubles from 0.5 s up to this).</summary>
    [Range(100, 3_600_000)]
    public int MaxBackoffMs { get; set; } = 60_000;

    /// <summary>How long <c>edge process</c> waits at the end for pending events to go out; the rest stays pending.</summary>
    [Range(0, 600_000)]
    public int DrainTimeoutMs { get; set; } = 5_000;

    public MqttDeliveryOptions Mqtt { get; set; } = new();

    public WebhookDeliveryOptions Webhook { get; set; } = new();

    public bool AnyEnabled => Mqtt.Enabled || Webhook.Enabled;

    /// <summary>The device id in effect: the configured one or the host name.</summary>
    public string Device => string.IsNullOrWhiteSpace(DeviceId) ? Environment.MachineName : DeviceId;
}

/// <summary>Publishes each event to an MQTT broker, QoS 1, on <c>{TopicPrefix}/{device}/{stream}/events</c>.</summary>
public sealed class MqttDeliveryOptions
{
    public bool Enabled { get; set; }

    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 1883;

    public string TopicPrefix { get; set; } = "edge";

    public string Username { get; set; } = "";

    public string Password { get; set; } = "";

    /// <summary>Empty = "edge-{device}-" and a random suffix, so two Edge processes never take each other's session.</summary>
    public string ClientId { get; set; } = "";

    /// <summary>Connect over TLS (MQTTS, usually port 8883); the broker's certificate and host name are checked.</summary>
    public bool UseTls { get; set; }

    /// <summary>
    /// PEM file of the certificate authority (or authorities) the broker's certificate must chain to, instead of the
    /// system's trusted roots; empty = the system's.
    /// </summary>
    public string CaFile { get; set; } = "";

    /// <summary>PEM file of this device's client certificate, for brokers that require one (with <see cref="KeyFile"/>).</summary>
    public string CertificateFile { get; set; } = "";

    /// <summary>PEM file of the client certificate's private key (unencrypted; keep it readable by Edge only).</summary>
    public string KeyFile { get; set; } = "";
}

/// <summary>POSTs each event as JSON to a URL.</summary>
public sealed class WebhookDeliveryOptions
{
    public bool Enabled { get; set; }

    public string Url { get; set; } = "";

    /// <summary>Longest wait for one response; a request that takes longer is retried.</summary>
    [Range(100, 600_000)]
    public int TimeoutMs { get; set; } = 10_000;
}

/// <summary>
/// The nested sections' ranges and the rules between keys. Messages name keys, never values, so a password cannot
/// reach the console or the log.
/// </summary>
public static class DeliveryOptionsRules
{
    private static readonly char[] s_topicReserved = ['+', '#', '\0'];

    public static IEnumerable<string> Problems(DeliveryOptions options)
    {
        var failures = new List<string>();
        Annotations(options.Mqtt, "Delivery:Mqtt", failures);
        Annotations(options.Webhook, "Delivery:Webhook", failures);
        if (options.DeviceId.IndexOfAny([.. s_topicReserved, '/']) >= 0)
        {
            failures.Add("Delivery:DeviceId must not contain '/', '+' or '#' (it is one MQTT topic level)");
        }
        if (options.AnyEnabled && string.IsNullOrWhiteSpace(options.OutboxPath))
        {
            failures.Add("Delivery:OutboxPath must be set when a delivery target is enabled");
        }
        var mqtt = options.Mqtt;
        if (mqtt.Enabled)
        {
            if (string.IsNullOrWhiteSpace(mqtt.Host))
            {
                failures.Add("Delivery:Mqtt:Host must be set when Delivery:Mqtt:Enabled is true");
            }
            if (string.IsNullOrWhiteSpace(mqtt.TopicPrefix) || mqtt.TopicPrefix.IndexOfAny(s_topicReserved) >= 0
                || mqtt.TopicPrefix.StartsWith('/') || mqtt.TopicPrefix.EndsWith('/'))
            {
                failures.Add("Delivery:Mqtt:TopicPrefix must be a topic without wildcards ('+', '#') or a leading or trailing '/'");
            }
            if (mqtt.Password.Length > 0 && mqtt.Username.Length == 0)
            {
                failures.Add("Delivery:Mqtt:Password needs Delivery:Mqtt:Username");
            }
            if (!mqtt.UseTls && (mqtt.CaFile.Length > 0 || mqtt.CertificateFile.Length > 0 || mqtt.KeyFile.Length > 0))
            {
                failures.Add("Delivery:Mqtt:CaFile, CertificateFile and KeyFile need Delivery:Mqtt:UseTls");
            }
            if ((mqtt.CertificateFile.Length > 0) != (mqtt.KeyFile.Length > 0))
            {
                failures.Add("Delivery:Mqtt:CertificateFile and Delivery:Mqtt:KeyFile must be set together");
            }
            foreach (var (key, file) in new[] { ("CaFile", mqtt.CaFile), ("CertificateFile", mqtt.CertificateFile), ("KeyFile", mqtt.KeyFile) })
            {
                if (file.Length > 0 && !File.Exists(file))
                {
                    failures.Add($"Delivery:Mqtt:{key}: file not found: {file}");
                }
            }
        }
        var webhook = options.Webhook;
        if (webhook.Enabled && !(Uri.TryCreate(webhook.Url, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)))
        {
            failures.Add("Delivery:Webhook:Url must be an absolute http:// or https:// URL when Delivery:Webhook:Enabled is true");
        }
        return failures;
    }

    /// <summary>Data annotations of a nested section, which options validation does not visit by itself.</summary>
    private static void Annotations(object section, string prefix, List<string> failures)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(section, new ValidationContext(section), results, validateAllProperties: true))
        {
            failures.AddRange(results.Select(r => $"{prefix}:{string.Join(",", r.MemberNames)}: {r.ErrorMessage?.TrimEnd('.')}"));
        }
    }
}
