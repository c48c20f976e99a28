using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Edge.Host.Service;

namespace Edge.Host.Web;

/// <summary>
/// What the live service measures beyond its stream snapshots (frame age, inference time, events), rendered with
/// those snapshots in the Prometheus text format 0.0.4. Thread-safe: the Record/Count methods are lock-free and are
/// called from the pipeline stages; <see cref="Render"/> runs on a web request.
/// </summary>
public sealed class EdgeMetrics
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] s_ageBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] s_inferenceBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
    private static readonly double[] s_batchBuckets = [1, 2, 4, 8, 16, 32, 64];

    private readonly ConcurrentDictionary<string, Histogram> _frameAge = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<(string Stream, string Kind), Counter> _events = new();
    private readonly Histogram _inference = new(s_inferenceBuckets);
    private readonly Histogram _batch = new(s_batchBuckets);

    /// <summary>Age of a frame when its results are out (capture to end of analysis), in milliseconds.</summary>
    public void RecordFrameAge(string stream, double ageMs) =>
        _frameAge.GetOrAdd(stream, _ => new Histogram(s_ageBuckets)).Observe(ageMs / 1000);

    /// <summary>One CNN call: its duration in milliseconds and the frames in its batch.</summary>
    public void RecordInference(double durationMs, int frames)
    {
        _inference.Observe(durationMs / 1000);
        _batch.Observe(frames);
    }

    /// <summary>One event stored for a stream, by kind (anomaly, activity).</summary>
    public void CountEvent(string stream, string kind) => _events.GetOrAdd((stream, kind), _ => new Counter()).Increment();

    /// <summary>The exposition text: the streams' snapshots as gauges and counters, then the recorded series.</summary>
    public string Render(IReadOnlyList<StreamStatus> streams)
    {
        var text = new StringBuilder(4096);
        Family(text, "edge_stream_up", "gauge", "1 while the stream's capture is running, else 0",
            streams.Select(s => (Labels(("stream", s.Id)), s.State == StreamState.Running ? 1.0 : 0)));
        Family(text, "edge_stream_state", "gauge", "1 for the stream's current state, 0 for the others",
            streams.SelectMany(s => Enum.GetValues<StreamState>().Select(state =>
                (Labels(("stream", s.Id), ("state", state.ToString().ToLowerInvariant())), s.State == state ? 1.0 : 0))));
        Family(text, "edge_stream_fps", "gauge", "Frames per second analysed, recent average",
            streams.Select(s => (Labels(("stream", s.Id)), s.Fps)));
        Family(text, "edge_stream_frames_read_total", "counter", "Frames read from the source",
            streams.Select(s => (Labels(("stream", s.Id)), (double)s.FramesRead)));
        Family(text, "edge_stream_frames_processed_total", "counter", "Frames whose results are out",
            streams.Select(s => (Labels(("stream", s.Id)), (double)s.FramesProcessed)));
        Family(text, "edge_stream_frames_dropped_total", "counter", "Frames dropped because analysis fell behind the source",
            streams.Select(s => (Labels(("stream", s.Id)), (double)s.FramesDropped)));
        Family(text, "edge_stream_reconnects_total", "counter", "Times the source was opened again after a failure",
            streams.Select(s => (Labels(("stream", s.Id)), (double)s.Reconnects)));
        Family(text, "edge_stream_faults_total", "counter", "Times the stream faulted (set-up or a stage threw) and was restarted",
            streams.Select(s => (Labels(("stream", s.Id)), (double)s.Faults)));
        Family(text, "edge_stream_source_fps", "gauge", "Frames per second the source should deliver (its rate, or the target if lower)",
            streams.Select(s => (Labels(("stream", s.Id)), s.SourceFps)));
        Family(text, "edge_stream_offered_fps", "gauge", "Frames per second the source delivered over the last minute",
            streams.Select(s => (Labels(("stream", s.Id)), s.OfferedFps)));
        Family(text, "edge_stream_anomaly_score", "gauge", "Latest anomaly score (1 = the model's threshold)",
            streams.Where(s => s.AnomalyScore is not null).Select(s => (Labels(("stream", s.Id)), (double)s.AnomalyScore!.Value)));
        Family(text, "edge_events_total", "counter", "Events stored, by stream and kind",
            _events.OrderBy(e => e.Key).Select(e => (Labels(("stream", e.Key.Stream), ("kind", e.Key.Kind)), (double)e.Value.Value)));
        HistogramFamily(text, "edge_frame_age_seconds", "Time from capture to the frame's results",
            _frameAge.OrderBy(h => h.Key, StringComparer.Ordinal).Select(h => (((string, string)?)("stream", h.Key), h.Value)));
        HistogramFamily(text, "edge_inference_seconds", "Duration of one CNN call (one batch)", [(null, _inference)]);
        HistogramFamily(text, "edge_inference_batch_frames", "Frames per CNN call", [(null, _batch)]);
        return text.ToString();
    }

    private static void Family(StringBuilder text, string name, string type, string help, IEnumerable<(string Labels, double Value)> samples)
    {
        Header(text, name, type, help);
        foreach (var (labels, value) in samples)
        {
            text.Append(name).Append(labels).Append(' ').Append(Format(value)).Append('\n');
        }
    }

    private static void HistogramFamily(StringBuilder text, string name, string help,
        IEnumerable<((string Name, string Value)? Label, Histogram Histogram)> series)
    {
        Header(text, name, "histogram", help);
        foreach (var (label, histogram) in series)
        {
            var (counts, sum) = histogram.Snapshot();
            var extra = label is { } l ? new[] { l } : [];
            long cumulative = 0;
            for (var i = 0; i < histogram.Bounds.Length; i++)
            {
                cumulative += counts[i];
                text.Append(name).Append("_bucket").Append(Labels([.. extra, ("le", Format(histogram.Bounds[i]))]))
                    .Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
            cumulative += counts[^1];
            text.Append(name).Append("_bucket").Append(Labels([.. extra, ("le", "+Inf")])).Append(' ')
                .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            text.Append(name).Append("_sum").Append(Labels(extra)).Append(' ').Append(Format(sum)).Append('\n');
            text.Append(name).Append("_count").Append(Labels(extra)).Append(' ')
                .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static void Header(StringBuilder text, string name, string type, string help) =>
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n')
            .Append("# TYPE ").Append(name).Append(' ').Append(type).Append('\n');

    private static string Labels(params (string Name, string Value)[] labels)
    {
        if (labels.Length == 0)
        {
            return "";
        }
        var text = new StringBuilder("{");
        foreach (var (name, value) in labels)
        {
            if (text.Length > 1)
            {
                text.Append(',');
            }
            text.Append(name).Append("=\"").Append(Escape(value)).Append('"');
        }
        return text.Append('}').ToString();
    }

    /// <summary>Label values escape backslash, double quote and line feed (exposition format 0.0.4).</summary>
    internal static string Escape(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    internal static string Format(double value) => value switch
    {
        double.PositiveInfinity => "+Inf",
        double.NegativeInfinity => "-Inf",
        double.NaN => "NaN",
        _ => value.ToString("R", CultureInfo.InvariantCulture),
    };

    private sealed class Counter
    {
        private long _value;

        public long Value => Interlocked.Read(ref _value);

        public void Increment() => Interlocked.Increment(ref _value);
    }

    /// <summary>Per-bucket counts (not cumulative; the last slot is above every bound) and a sum, updated with Interlocked.</summary>
    private sealed class Histogram(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private long _sumBits;

        public double[] Bounds { get; } = bounds;

        public void Observe(double value)
        {
            var i = 0;
            while (i < Bounds.Length && value > Bounds[i])
            {
                i++;
            }
            Interlocked.Increment(ref _counts[i]);
            long seen, next;
            do
            {
                seen = Interlocked.Read(ref _sumBits);
                next = BitConverter.DoubleToInt64Bits(BitConverter.Int64BitsToDouble(seen) + value);
            }
            while (Interlocked.CompareExchange(ref _sumBits, next, seen) != seen);
        }

        /// <summary>Counts and sum read one by one: a concurrent Observe may show in one and not yet the other, as Prometheus clients allow.</summary>
        public (long[] Counts, double Sum) Snapshot()
        {
            var counts = new long[_counts.Length];
            for (var i = 0; i < counts.Length; i++)
            {
                counts[i] = Interlocked.Read(ref _counts[i]);
            }
            return (counts, BitConverter.Int64BitsToDouble(Interlocked.Read(ref _sumBits)));
        }
    }
}
