using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline.Events;

/// <summary>
/// How long the live service keeps what it writes, and how much disk it may use. Config section "Retention". Applied
/// by <see cref="EventRetention"/> at start and every <see cref="IntervalSeconds"/> while <c>edge run</c> runs,
/// oldest first; <c>edge process</c> writes into a run's own folder and is not affected.
/// </summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>Events (rows, snapshots, clips, JSON lines) stored longer ago than this are deleted; 0 = no age limit.</summary>
    [Range(0, 36_500)]
    public double MaxAgeDays { get; set; } = 30;

    /// <summary>
    /// Most disk the events may use (events.db and the events folder: snapshots, clips, JSON lines, clips being
    /// recorded); above it the oldest events are deleted until it fits. 0 = no budget.
    /// </summary>
    [Range(0, 100_000_000)]
    public double MaxDiskMb { get; set; } = 10_240;

    /// <summary>Delivered messages stay in the delivery outbox this long (for inspection), then are deleted.</summary>
    [Range(0, 876_000)]
    public double KeepDeliveredHours { get; set; } = 168;

    /// <summary>Most disk the outbox may use; above it the oldest delivered or refused messages go. Pending ones never do. 0 = no bound.</summary>
    [Range(0, 1_000_000)]
    public double OutboxMaxMb { get; set; } = 256;

    /// <summary>How often retention runs while the service runs.</summary>
    [Range(1, 86_400)]
    public int IntervalSeconds { get; set; } = 60;

    public long MaxDiskBytes => (long)(MaxDiskMb * 1024 * 1024);

    public long OutboxMaxBytes => (long)(OutboxMaxMb * 1024 * 1024);
}
