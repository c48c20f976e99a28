using System.Diagnostics.Metrics;

namespace Edge.Pipeline.Telemetry;

/// <summary>
/// What the live service measures while it runs, as instruments on one <see cref="System.Diagnostics.Metrics.Meter"/>
/// named <see cref="MeterName"/>: frame age per stream, CNN call duration and batch size, events per stream and kind.
/// Any listener can read them (the /metrics exporter, <c>dotnet-counters monitor --counters Edge</c>, OpenTelemetry).
/// The recording methods are thread-safe and cheap; the pipeline's stages call them. Owns its meter; dispose it after
/// the last recording.
/// </summary>
public sealed class EdgeInstruments : IDisposable
{
    public const string MeterName = "Edge";

    public const string StreamTag = "stream";

    public const string KindTag = "kind";

    /// <summary>Frame age buckets in seconds: live frames are expected well under a second old.</summary>
    public static readonly double[] FrameAgeBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>CNN call buckets in seconds: 5 ms (one small GPU batch) to 2.5 s (a large CPU batch).</summary>
    public static readonly double[] InferenceBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    /// <summary>Frames per CNN call.</summary>
    public static readonly int[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64];

    private readonly Histogram<double> _frameAge;
    private readonly Histogram<double> _inference;
    private readonly Histogram<int> _batch;
    private readonly Counter<long> _events;

    public EdgeInstruments()
    {
        Meter = new Meter(MeterName);
        // Names are the Prometheus series names: the exporter writes them as they are.
        _frameAge = Meter.CreateHistogram("edge_frame_age_seconds", "s", "Time from capture to the frame's results",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = FrameAgeBuckets });
        _inference = Meter.CreateHistogram("edge_inference_seconds", "s", "Duration of one CNN call (one batch)",
            tags: null, new InstrumentAdvice<double> { HistogramBucketBoundaries = InferenceBuckets });
        _batch = Meter.CreateHistogram("edge_inference_batch_frames", "{frame}", "Frames per CNN call",
            tags: null, new InstrumentAdvice<int> { HistogramBucketBoundaries = BatchBuckets });
        _events = Meter.CreateCounter<long>("edge_events_total", "{event}", "Events stored, by stream and kind");
    }

    /// <summary>The meter every instrument of this instance is on; other instruments may be added to it (observable gauges).</summary>
    public Meter Meter { get; }

    /// <summary>
    /// Raised by <see cref="ForgetStream"/>. System.Diagnostics.Metrics has no way to retire a tag set, so exporters that
    /// keep per-stream series listen here and drop them.
    /// </summary>
    public event Action<string>? StreamForgotten;

    /// <summary>Age of a frame when its results are out (capture to end of analysis), in milliseconds.</summary>
    public void RecordFrameAge(string stream, double ageMs) =>
        _frameAge.Record(ageMs / 1000, new KeyValuePair<string, object?>(StreamTag, stream));

    /// <summary>One CNN call: its duration in milliseconds and the frames in its batch.</summary>
    public void RecordInference(double durationMs, int frames)
    {
        _inference.Record(durationMs / 1000);
        _batch.Record(frames);
    }

    /// <summary>One event stored for a stream, by kind (anomaly, activity).</summary>
    public void CountEvent(string stream, string kind) =>
        _events.Add(1, new KeyValuePair<string, object?>(StreamTag, stream), new KeyValuePair<string, object?>(KindTag, kind));

    /// <summary>A stream was removed: its series go away (a long-running service with changing streams stays bounded).</summary>
    public void ForgetStream(string stream) => StreamForgotten?.Invoke(stream);

    public void Dispose() => Meter.Dispose();
}
