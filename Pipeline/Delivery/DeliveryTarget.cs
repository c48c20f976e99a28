namespace Edge.Pipeline.Delivery;

/// <summary>The targets' names in the outbox, the logs and the summary.</summary>
public static class DeliveryTargets
{
    public const string Mqtt = "mqtt";
    public const string Webhook = "webhook";
}

/// <summary>Where a message goes: one attempt per call; the caller retries, backs off and records the outcome.</summary>
internal interface IDeliveryTarget : IAsyncDisposable
{
    /// <summary>The target's name in the outbox ("mqtt", "webhook").</summary>
    string Target { get; }

    /// <summary>Where it sends to, for logs: never with credentials.</summary>
    string Endpoint { get; }

    /// <summary>One attempt. Expected failures (network, broker, server) come back as an outcome, not an exception.</summary>
    Task<SendOutcome> SendAsync(OutboxMessage message, CancellationToken ct);
}

internal enum SendResult
{
    Delivered,

    /// <summary>Failed for now (unreachable, 5xx, 429): stays pending and is tried again after a backoff.</summary>
    Retry,

    /// <summary>Refused for good (e.g. HTTP 400): marked failed, never tried again.</summary>
    Rejected,
}

/// <param name="RetryAfter">The least wait the receiver asked for (HTTP Retry-After), if any.</param>
internal readonly record struct SendOutcome(SendResult Result, string Reason = "", TimeSpan? RetryAfter = null)
{
    public static SendOutcome Delivered => new(SendResult.Delivered);

    public static SendOutcome Retry(string reason, TimeSpan? retryAfter = null) => new(SendResult.Retry, reason, retryAfter);

    public static SendOutcome Rejected(string reason) => new(SendResult.Rejected, reason);
}
