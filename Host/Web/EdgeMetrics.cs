using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Edge.Host.Service;
using Edge.Pipeline.Telemetry;

namespace Edge.Host.Web;

/// <summary>
/// /metrics: the service's instruments (<see cref="EdgeInstruments"/>) and observable gauges over the streams'
/// snapshots, all on one <see cref="Meter"/>, read by a <see cref="MeterListener"/> and written in the Prometheus text
/// format 0.0.4.
/// </summary>
/// <remarks>
/// A listener of its own rather than OpenTelemetry's or prometheus-net's exporter, because neither writes these series
/// as they are (measured on both, README "Metrics"): OpenTelemetry 1.20.1-beta.1 sorts label names
/// (<c>edge_events_total{kind=..,stream=..}</c>) and keeps a tag set of a push instrument for the life of the process
/// (a removed stream's frame-age histogram stays); prometheus-net 8.2.1's meter adapter writes .NET counters as gauges,
/// prefixes names with the meter's name and drops series only when they expire by time. Thread-safe: measurements are
/// recorded lock-free from the pipeline; <see cref="Render()"/> runs on a web request. Owns its listener, and the
/// instruments when it created them.
/// </remarks>
public sealed class EdgeMetrics : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static readonly double[] s_defaultBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    private readonly bool _ownsInstruments;
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<Instrument, Family> _families = new();
    private readonly List<Family> _order = [];
    private readonly Lock _collect = new();
    private IReadOnlyList<StreamStatus>? _collecting;

    /// <summary>With instruments of its own (tests, or an owner that records only through this object).</summary>
    public EdgeMetrics()
        : this(new EdgeInstruments(), ownsInstruments: true)
    {
    }

    /// <summary>Over the service's instruments; the caller keeps owning them.</summary>
    public EdgeMetrics(EdgeInstruments instruments)
        : this(instruments, ownsInstruments: false)
    {
    }

    private EdgeMetrics(EdgeInstruments instruments, bool ownsInstruments)
    {
        Instruments = instruments;
        _ownsInstruments = ownsInstruments;
        var meter = instruments.Meter;
        // The streams' snapshots, observed when a scrape collects: a removed stream is simply no longer reported.
        meter.CreateObservableGauge("edge_stream_up", () => Streams(s => s.State == StreamState.Running ? 1 : 0),
            description: "1 while the stream's capture is running, else 0");
        meter.CreateObservableGauge("edge_stream_state", () => CurrentStreams().SelectMany(s => Enum.GetValues<StreamState>().Select(state =>
            new Measurement<int>(s.State == state ? 1 : 0, Tag(s), new KeyValuePair<string, object?>("state", state.ToString().ToLowerInvariant())))),
            description: "1 for the stream's current state, 0 for the others");
        meter.CreateObservableGauge("edge_stream_fps", () => CurrentStreams().Select(s => new Measurement<double>(s.Fps, Tag(s))),
            description: "Frames per second analysed, recent average");
        meter.CreateObservableCounter("edge_stream_frames_read_total", () => Streams(s => s.FramesRead),
            "{frame}", "Frames read from the source");
        meter.CreateObservableCounter("edge_stream_frames_processed_total", () => Streams(s => s.FramesProcessed),
            "{frame}", "Frames whose results are out");
        meter.CreateObservableCounter("edge_stream_frames_dropped_total", () => Streams(s => s.FramesDropped),
            "{frame}", "Frames dropped because analysis fell behind the source");
        meter.CreateObservableCounter("edge_stream_reconnects_total", () => Streams(s => s.Reconnects),
            description: "Times the source was opened again after a failure");
        meter.CreateObservableCounter("edge_stream_faults_total", () => Streams(s => s.Faults),
            description: "Times the stream faulted (set-up or a stage threw) and was restarted");
        meter.CreateObservableGauge("edge_stream_source_fps", () => CurrentStreams().Select(s => new Measurement<double>(s.SourceFps, Tag(s))),
            description: "Frames per second the source should deliver (its rate, or the target if lower)");
        meter.CreateObservableGauge("edge_stream_offered_fps", () => CurrentStreams().Select(s => new Measurement<double>(s.OfferedFps, Tag(s))),
            description: "Frames per second the source delivered over the last minute");
        // No anomaly model, no sample: a made-up 0 would look like a calm scene.
        meter.CreateObservableGauge("edge_stream_anomaly_score", () => CurrentStreams().Where(s => s.AnomalyScore is not null)
            .Select(s => new Measurement<double>(s.AnomalyScore!.Value, Tag(s))), description: "Latest anomaly score (1 = the model's threshold)");

        meter.CreateObservableGauge("edge_zone_occupancy", () => CurrentStreams().SelectMany(s => (s.Zones?.Zones ?? []).Select(z =>
            new Measurement<int>(z.Occupancy, Tag(s), new KeyValuePair<string, object?>("zone", z.Name)))),
            description: "Tracks inside the zone now");
        meter.CreateObservableCounter("edge_zone_entries_total", () => CurrentStreams().SelectMany(s => (s.Zones?.Zones ?? []).Select(z =>
            new Measurement<long>(z.Entries, Tag(s), new KeyValuePair<string, object?>("zone", z.Name)))),
            description: "Tracks that entered the zone since the stream started");
        meter.CreateObservableCounter("edge_line_crossings_total", () => CurrentStreams().SelectMany(s => (s.Zones?.Lines ?? []).SelectMany(l =>
            new[] { ("left-to-right", l.LeftToRight), ("right-to-left", l.RightToLeft) }.Select(d => new Measurement<long>(d.Item2, Tag(s),
                new KeyValuePair<string, object?>("line", l.Name), new KeyValuePair<string, object?>("direction", d.Item1))))),
            description: "Tracks that crossed the line since the stream started, per direction");

        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == meter && Family.For(instrument) is { } family)
            {
                lock (_order)
                {
                    _families[instrument] = family;
                    _order.Add(family);
                }
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<int>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
        instruments.StreamForgotten += Forget;
    }

    /// <summary>The instruments this exporter reads.</summary>
    public EdgeInstruments Instruments { get; }

    /// <summary>Where the per-stream gauges read the streams when a scrape does not pass them (the owner sets it to its registry).</summary>
    public Func<IReadOnlyList<StreamStatus>> StreamSource { get; set; } = () => [];

    public void RecordFrameAge(string stream, double ageMs) => Instruments.RecordFrameAge(stream, ageMs);

    public void RecordInference(double durationMs, int frames) => Instruments.RecordInference(durationMs, frames);

    public void CountEvent(string stream, string kind) => Instruments.CountEvent(stream, kind);

    /// <summary>The exposition text, with the streams of <see cref="StreamSource"/>.</summary>
    public string Render() => Render(StreamSource());

    /// <summary>The exposition text: every instrument as one family, the per-stream gauges observed over <paramref name="streams"/>.</summary>
    public string Render(IReadOnlyList<StreamStatus> streams)
    {
        Family[] families;
        lock (_order)
        {
            families = [.. _order];
        }
        var text = new StringBuilder(4096);
        lock (_collect)
        {
            _collecting = streams;
            try
            {
                foreach (var family in families)
                {
                    family.BeginCollect();
                }
                _listener.RecordObservableInstruments();
            }
            finally
            {
                _collecting = null;
            }
            foreach (var family in families)
            {
                family.Write(text);
            }
        }
        return text.ToString();
    }

    public void Dispose()
    {
        Instruments.StreamForgotten -= Forget;
        _listener.Dispose();
        if (_ownsInstruments)
        {
            Instruments.Dispose();
        }
    }

    private IReadOnlyList<StreamStatus> CurrentStreams() => _collecting ?? StreamSource();

    private IEnumerable<Measurement<long>> Streams(Func<StreamStatus, long> value) =>
        CurrentStreams().Select(s => new Measurement<long>(value(s), Tag(s)));

    private static KeyValuePair<string, object?> Tag(StreamStatus s) => new(EdgeInstruments.StreamTag, s.Id);

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (_families.TryGetValue(instrument, out var family))
        {
            family.Record(value, tags);
        }
    }

    private void Forget(string stream)
    {
        foreach (var family in _families.Values)
        {
            family.Forget(stream);
        }
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

    /// <summary>Labels in the order the measurement gave its tags: <c>stream="a",kind="b"</c> (no braces).</summary>
    private static (string Labels, string? Stream) Labels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.Length == 0)
        {
            return ("", null);
        }
        var text = new StringBuilder();
        string? stream = null;
        foreach (var (name, value) in tags)
        {
            var valueText = Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
            if (name == EdgeInstruments.StreamTag)
            {
                stream = valueText;
            }
            if (text.Length > 0)
            {
                text.Append(',');
            }
            text.Append(name).Append("=\"").Append(Escape(valueText)).Append('"');
        }
        return (text.ToString(), stream);
    }

    private static string Braced(string labels) => labels.Length == 0 ? "" : "{" + labels + "}";

    /// <summary>One instrument as one metric family.</summary>
    private abstract class Family(Instrument instrument, string type)
    {
        protected string Name { get; } = instrument.Name;

        public static Family? For(Instrument instrument) => instrument switch
        {
            Histogram<double> h => new HistogramFamily(instrument, h.Advice?.HistogramBucketBoundaries?.ToArray() ?? s_defaultBuckets),
            Histogram<int> h => new HistogramFamily(instrument, h.Advice?.HistogramBucketBoundaries?.Select(b => (double)b).ToArray() ?? s_defaultBuckets),
            Counter<long> or Counter<int> => new CounterFamily(instrument),
            ObservableCounter<long> or ObservableCounter<int> or ObservableCounter<double> => new ObservedFamily(instrument, "counter"),
            ObservableGauge<long> or ObservableGauge<int> or ObservableGauge<double> => new ObservedFamily(instrument, "gauge"),
            _ => null,
        };

        public abstract void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags);

        public virtual void BeginCollect()
        {
        }

        public virtual void Forget(string stream)
        {
        }

        public void Write(StringBuilder text)
        {
            var help = (instrument.Description ?? instrument.Name).Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);
            text.Append("# HELP ").Append(Name).Append(' ').Append(help).Append('\n')
                .Append("# TYPE ").Append(Name).Append(' ').Append(type).Append('\n');
            WriteSamples(text);
        }

        protected abstract void WriteSamples(StringBuilder text);
    }

    /// <summary>Values reported by an observable instrument's callback during the current collection only.</summary>
    private sealed class ObservedFamily(Instrument instrument, string type) : Family(instrument, type)
    {
        private readonly List<(string Labels, double Value)> _samples = [];

        public override void BeginCollect() => _samples.Clear();

        // Called only inside Render's collection, under its lock.
        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) => _samples.Add((Labels(tags).Labels, value));

        protected override void WriteSamples(StringBuilder text)
        {
            foreach (var (labels, value) in _samples)
            {
                text.Append(Name).Append(Braced(labels)).Append(' ').Append(Format(value)).Append('\n');
            }
        }
    }

    /// <summary>Series keyed by their labels; a forgotten stream's series are removed.</summary>
    private abstract class SeriesFamily<TSeries>(Instrument instrument, string type) : Family(instrument, type)
        where TSeries : class
    {
        protected ConcurrentDictionary<string, (string? Stream, TSeries Series)> Series { get; } = new(StringComparer.Ordinal);

        protected TSeries SeriesFor(ReadOnlySpan<KeyValuePair<string, object?>> tags, Func<TSeries> create)
        {
            var (labels, stream) = Labels(tags);
            return Series.GetOrAdd(labels, static (_, arg) => (arg.stream, arg.create()), (stream, create)).Series;
        }

        public override void Forget(string stream)
        {
            foreach (var (labels, entry) in Series)
            {
                if (entry.Stream == stream)
                {
                    Series.TryRemove(labels, out _);
                }
            }
        }

        protected IEnumerable<(string Labels, TSeries Series)> Ordered() =>
            Series.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => (s.Key, s.Value.Series));
    }

    private sealed class CounterFamily(Instrument instrument) : SeriesFamily<CounterFamily.Count>(instrument, "counter")
    {
        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            Interlocked.Add(ref SeriesFor(tags, static () => new Count()).Value, (long)value);

        protected override void WriteSamples(StringBuilder text)
        {
            foreach (var (labels, count) in Ordered())
            {
                text.Append(Name).Append(Braced(labels)).Append(' ')
                    .Append(Interlocked.Read(ref count.Value).ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }

        public sealed class Count
        {
            public long Value;
        }
    }

    private sealed class HistogramFamily(Instrument instrument, double[] bounds) : SeriesFamily<Buckets>(instrument, "histogram")
    {
        public override void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags) =>
            SeriesFor(tags, () => new Buckets(bounds)).Observe(value);

        protected override void WriteSamples(StringBuilder text)
        {
            foreach (var (labels, histogram) in Ordered())
            {
                var (counts, sum) = histogram.Snapshot();
                var prefix = labels.Length == 0 ? "{" : "{" + labels + ",";
                long cumulative = 0;
                for (var i = 0; i < bounds.Length; i++)
                {
                    cumulative += counts[i];
                    text.Append(Name).Append("_bucket").Append(prefix).Append("le=\"").Append(Format(bounds[i])).Append("\"} ")
                        .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                }
                cumulative += counts[^1];
                text.Append(Name).Append("_bucket").Append(prefix).Append("le=\"+Inf\"} ")
                    .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
                text.Append(Name).Append("_sum").Append(Braced(labels)).Append(' ').Append(Format(sum)).Append('\n');
                text.Append(Name).Append("_count").Append(Braced(labels)).Append(' ')
                    .Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }
        }
    }

    /// <summary>Per-bucket counts (not cumulative; the last slot is above every bound) and a sum, updated with Interlocked.</summary>
    private sealed class Buckets(double[] bounds)
    {
        private readonly long[] _counts = new long[bounds.Length + 1];
        private long _sumBits;

        public void Observe(double value)
        {
            var i = 0;
            while (i < bounds.Length && value > bounds[i])
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
