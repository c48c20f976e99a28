using Edge.Models;

namespace Edge.Pipeline;

/// <summary>
/// The temporal stage's work: per stream, a ring of the most recent embeddings; every <c>windowStride</c> frames
/// (from the model's manifest) the GRU/LSTM runs on the newest window. An anomaly model scores
/// the newest frame (its prediction error and motion energy), reported on the calibrated scale (0 = the mean of normal footage, 1 = its 99th percentile); an
/// activity model gives a label and its probability. Frames between runs carry the latest values. Does not own the
/// models it is given; they may be shared with other streams' analyzers (batched across streams).
/// </summary>
public sealed class TemporalAnalyzer
{
    private readonly IWindowModel? _anomaly;
    private readonly IWindowModel? _activity;
    private readonly int _ringSize;
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);

    public TemporalAnalyzer(IWindowModel? anomaly, IWindowModel? activity)
    {
        if (anomaly is { IsAnomaly: false } || activity is { IsAnomaly: true })
        {
            throw new ArgumentException("the anomaly model must be an anomaly model and the activity model an activity model");
        }
        _anomaly = anomaly;
        _activity = activity;
        _ringSize = Math.Max(anomaly?.InputFrames ?? 0, activity?.InputFrames ?? 0);
        FeatureSize = anomaly?.FeatureSize ?? activity?.FeatureSize ?? 0;
    }

    public int FeatureSize { get; }

    /// <summary>Frames the ring holds per stream (never more).</summary>
    public int RingSize => _ringSize;

    /// <summary>Model runs so far, for metrics.</summary>
    public long Runs { get; private set; }

    /// <summary>Adds the frame's embedding to its stream's ring and returns the frame's analysis.</summary>
    public async ValueTask<FrameAnalysis> AnalyzeAsync(FrameResult result, CancellationToken ct)
    {
        if (!_streams.TryGetValue(result.StreamId, out var state))
        {
            state = new StreamState(_ringSize, FeatureSize);
            _streams[result.StreamId] = state;
        }
        state.Push(result.Embedding);
        if (_anomaly is not null && state.Count >= _anomaly.InputFrames && state.Seen % (_anomaly.Manifest.WindowStride ?? 1) == 0)
        {
            var raw = (await _anomaly.RunAsync(state.Newest(_anomaly.InputFrames), 1, ct).ConfigureAwait(false))[0];
            state.AnomalyScore = (float)_anomaly.Manifest.Anomaly!.Relative(raw);
            Runs++;
        }
        if (_activity is not null && state.Count >= _activity.InputFrames && state.Seen % (_activity.Manifest.WindowStride ?? 1) == 0)
        {
            var probabilities = await _activity.RunAsync(state.Newest(_activity.InputFrames), 1, ct).ConfigureAwait(false);
            var best = Array.IndexOf(probabilities, probabilities.Max());
            (state.Activity, state.ActivityConfidence) = (_activity.Manifest.Labels[best], probabilities[best]);
            Runs++;
        }
        return new FrameAnalysis(state.Activity, state.ActivityConfidence, state.AnomalyScore);
    }

    /// <summary>The ring of one stream's embeddings, oldest first when read.</summary>
    private sealed class StreamState(int capacity, int features)
    {
        private readonly float[] _ring = new float[capacity * features];
        private int _next;

        public int Count { get; private set; }

        public long Seen { get; private set; }

        public string? Activity { get; set; }

        public float? ActivityConfidence { get; set; }

        public float? AnomalyScore { get; set; }

        public void Push(float[] embedding)
        {
            if (embedding.Length != features)
            {
                throw new ArgumentException($"embedding has {embedding.Length} values, the sequence models read {features}");
            }
            embedding.CopyTo(_ring, _next * features);
            _next = (_next + 1) % capacity;
            Count = Math.Min(Count + 1, capacity);
            Seen++;
        }

        /// <summary>The newest <paramref name="frames"/> embeddings, oldest first, as one window.</summary>
        public float[] Newest(int frames)
        {
            var window = new float[frames * features];
            for (var i = 0; i < frames; i++)
            {
                var slot = ((_next - frames + i) % capacity + capacity) % capacity;
                _ring.AsSpan(slot * features, features).CopyTo(window.AsSpan(i * features));
            }
            return window;
        }
    }
}
