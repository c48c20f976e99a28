using System.ComponentModel.DataAnnotations;

namespace Edge.Capture;

/// <summary>
/// How a live source recovers from failures: exponential backoff with full jitter between attempts, and a watchdog
/// for a stream that stays connected but stops sending frames. Config section "Reconnect".
/// </summary>
public sealed class ReconnectOptions
{
    public const string Section = "Reconnect";

    /// <summary>Upper bound of the first wait after a failure.</summary>
    [Range(10, 600_000)]
    public int InitialBackoffMs { get; set; } = 500;

    /// <summary>Upper bound no wait ever exceeds, however many failures in a row.</summary>
    [Range(10, 3_600_000)]
    public int MaxBackoffMs { get; set; } = 30_000;

    /// <summary>Growth of the bound with each failure in a row.</summary>
    [Range(1.0, 10.0)]
    public double BackoffMultiplier { get; set; } = 2;

    /// <summary>A connected source that delivers no frame for this long is torn down and reconnected.</summary>
    [Range(100, 3_600_000)]
    public int WatchdogMs { get; set; } = 10_000;

    /// <summary>A connection that has delivered frames for this long is stable: the next failure waits as the first.</summary>
    [Range(0, 3_600_000)]
    public int StableAfterMs { get; set; } = 10_000;

    /// <summary>The rule between fields that attributes cannot state; null when the options are consistent.</summary>
    public string? CrossFieldError() =>
        MaxBackoffMs < InitialBackoffMs
            ? $"Reconnect:MaxBackoffMs ({MaxBackoffMs}) must be at least Reconnect:InitialBackoffMs ({InitialBackoffMs})"
            : null;

    /// <summary>Throws <see cref="ValidationException"/> when a field is out of range or the fields disagree.</summary>
    public void Validate()
    {
        Validator.ValidateObject(this, new ValidationContext(this), validateAllProperties: true);
        if (CrossFieldError() is { } error)
        {
            throw new ValidationException(error);
        }
    }

    /// <summary>The bound of the wait after <paramref name="failures"/> failures in a row (1 = the first).</summary>
    public double BackoffCeilingMs(int failures) =>
        Backoff.CeilingMs(InitialBackoffMs, MaxBackoffMs, BackoffMultiplier, failures);

    /// <summary>A new backoff with these bounds (one per retry loop).</summary>
    public Backoff NewBackoff() => new(InitialBackoffMs, MaxBackoffMs, BackoffMultiplier);
}
