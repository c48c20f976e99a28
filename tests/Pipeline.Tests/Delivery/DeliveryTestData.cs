using Edge.Pipeline.Delivery;
using Edge.Pipeline.Events;

namespace Edge.Pipeline.Tests.Delivery;

public static class DeliveryTestData
{
    public const string Device = "test-device";

    /// <summary>An anomaly event on stream "cam-1" with a fresh id; the label names it for the receiver.</summary>
    public static DetectedEvent Event(int n, string label = "anomaly") =>
        new(Guid.NewGuid().ToString("N"), "cam-1", DetectedEvent.AnomalyKind, label, n * 1000.0, (n * 1000.0) + 600, n * 10, (n * 10) + 6, 2.5, (n * 10) + 3);

    public static DeliveryOptions Mqtt(string folder, int port, string password = "") => new()
    {
        OutboxPath = Path.Combine(folder, "outbox.db"),
        DeviceId = Device,
        MaxBackoffMs = 1000,
        Mqtt = new MqttDeliveryOptions { Enabled = true, Host = "127.0.0.1", Port = port, Username = password.Length > 0 ? "edge" : "", Password = password },
    };
}
