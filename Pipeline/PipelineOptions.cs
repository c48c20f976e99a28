using System.ComponentModel.DataAnnotations;

namespace Edge.Pipeline;

/// <summary>Channel capacities and batching. Config section "Pipeline".</summary>
public sealed class PipelineOptions
{
    public const string Section = "Pipeline";

    /// <summary>Most frames the CNN runs in one call.</summary>
    [Range(1, 256)]
    public int BatchSize { get; set; } = 8;

    /// <summary>Longest wait for a batch to fill once its first frame has arrived; 0 runs whatever is queued.</summary>
    [Range(0, 10_000)]
    public int BatchTimeoutMs { get; set; } = 50;

    /// <summary>Frames queued between capture and the CNN. Files wait when it is full; live sources drop the oldest.</summary>
    [Range(1, 1024)]
    public int CaptureQueue { get; set; } = 16;

    /// <summary>Results queued between later stages (small records; frames too when annotating).</summary>
    [Range(1, 4096)]
    public int ResultQueue { get; set; } = 16;
}
