using Edge.Models;

namespace Edge.Pipeline;

/// <summary>
/// The temporal stage's work: per stream, a ring of the most recent per-frame features (embeddings, and grids when the
/// anomaly model reads them, with the cells' flow when it reads that too); every <c>windowStride</c> frames (from the
/// model's manifest) each model runs on the newest window. An anomaly model scores the newest frame, reported on the calibrated scale (0 = typical normal
/// footage, 1 = its 99th percentile), and, when it has a cell map, says where; an activity model gives a label and
/// its probability. Frames between runs carry the latest values. Does not own the models it is given; they may be
/// shared with other streams' analyzers (batched across streams).
/// </summary>
public sealed class TemporalAnalyzer
{
    private readonly IWindowModel? _activity;
    private readonly bool _learns;
    private IWindowModel? _anomaly;
    private IWindowModel? _pendingAnomaly;
    private int _ringSize;
    private int _gridRingSize;
    private readonly Dictionary<string, StreamState> _streams = new(StringComparer.Ordinal);
    private int _embeddingSize;
    private int _gridSize;
    private int _flowSize;
    private bool _readsFlow;

    /// <param name="learns">The stream learns its anomaly model while it runs: grids are kept from the start, and
    /// <see cref="ReplaceAnomaly"/> puts a new model in without stopping the stream.</param>
    public TemporalAnalyzer(IWindowModel? anomaly, IWindowModel? activity, bool learns = false)
    {
        if (anomaly is { IsAnomaly: false } || activity is { IsAnomaly: true })
        {
            throw new ArgumentException("the anomaly model must be an anomaly model and the activity model an activity model");
        }
        if (activity is { ReadsGrid: true })
        {
            throw new ArgumentException("activity models read embeddings, not grids");
        }
        _anomaly = anomaly;
        _activity = activity;
        _learns = learns;
        Size();
    }

    private void Size()
    {
        _ringSize = Math.Max(_anomaly?.InputFrames ?? 0, _activity?.InputFrames ?? 0);
        _gridRingSize = _anomaly is { ReadsGrid: true } ? _anomaly.InputFrames : 0;
        _readsFlow = _anomaly is { ReadsGrid: true, ReadsFlow: true };
    }

    /// <summary>
    /// Whether a model reads the frame model's grid (or the stream learns one that will): the pipeline then keeps each
    /// frame's grid for this stage.
    /// </summary>
    public bool ReadsGrid => _gridRingSize > 0 || _learns;

    /// <summary>The anomaly model in use (null before a learning stream has one).</summary>
    public IWindowModel? Anomaly => _anomaly;

    /// <summary>A model that <see cref="ReplaceAnomaly"/> put out of use, for its owner to dispose: raised on the analysis stage.</summary>
    public event Action<IWindowModel>? AnomalyReplaced;

    /// <summary>
    /// Hands a new anomaly model (checked by the caller against the frame model) to the running stage: the next frame is
    /// analysed with it, with no gap in frames; the rings start again, so its first score comes once it has a whole
    /// window. Thread-safe; the caller keeps owning the model.
    /// </summary>
    public void ReplaceAnomaly(IWindowModel model)
    {
        if (!model.IsAnomaly)
        {
            throw new ArgumentException("not an anomaly model", nameof(model));
        }
        if (model.ReadsGrid && !_learns && _gridRingSize == 0)
        {
            throw new InvalidOperationException("this stream keeps no grids: it was not built to learn");
        }
        Interlocked.Exchange(ref _pendingAnomaly, model);
    }

    /// <summary>
    /// A frame gap in learned intervals is held within these: a clock jump or a reordered timestamp is not a frame rate.
    /// </summary>
    private const float MinGap = 0.25f;
    private const float MaxGap = 20f;

    /// <summary>Frames the ring holds per stream (never more).</summary>
    public int RingSize => _ringSize;

    /// <summary>Model runs so far, for metrics.</summary>
    public long Runs { get; private set; }

    /// <summary>
    /// Checks that the models read what the frame model gives: embeddings of <paramref name="embeddingSize"/>, and
    /// the grid for a model that reads it. Throws <see cref="ModelException"/> naming the mismatch.
    /// </summary>
    public void CheckFeatures(int embeddingSize, GridDescription? grid)
    {
        foreach (var model in new[] { _anomaly, _activity })
        {
            if (model is null)
            {
                continue;
            }
            var flow = model.ReadsFlow && grid is not null ? Models.GridAnomaly.FlowFeatures.Size(grid) : 0;
            var expected = model.ReadsGrid ? embeddingSize + (grid?.Size ?? 0) + flow : embeddingSize;
            if (model.ReadsGrid && grid is null)
            {
                throw new ModelException(ModelError.Invalid,
                    $"{model.Manifest.Name} reads the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
            }
            if (model.FeatureSize != expected)
            {
                throw new ModelException(ModelError.Invalid, model.ReadsGrid
                    ? $"{model.Manifest.Name} reads {model.FeatureSize} values per frame but the frame model gives {embeddingSize}-d embeddings and {grid!.Size}-value grids{(flow > 0 ? $" (and {flow} values of flow)" : "")}"
                    : $"the sequence models read {model.FeatureSize}-d features but the frame model gives {embeddingSize}-d embeddings");
            }
        }
        _embeddingSize = embeddingSize;
        _gridSize = grid?.Size ?? 0;
        _flowSize = grid is null ? 0 : Models.GridAnomaly.FlowFeatures.Size(grid);
    }

    /// <summary>Adds the frame's features to its stream's ring and returns the frame's analysis.</summary>
    public async ValueTask<FrameAnalysis> AnalyzeAsync(FrameResult result, CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _pendingAnomaly, null) is { } replacement)
        {
            var previous = _anomaly;
            _anomaly = replacement;
            Size();
            _streams.Clear();
            if (previous is not null && !ReferenceEquals(previous, replacement))
            {
                AnomalyReplaced?.Invoke(previous);
            }
        }
        if (!_streams.TryGetValue(result.StreamId, out var state))
        {
            if (_embeddingSize == 0)
            {
                _embeddingSize = result.Embedding.Length;
            }
            state = new StreamState(_ringSize, _embeddingSize, _gridRingSize, _gridSize + (_readsFlow ? _flowSize : 0));
            _streams[result.StreamId] = state;
        }
        if (_gridRingSize > 0 && result.Grid is null)
        {
            throw new InvalidOperationException("the anomaly model reads grids, but the frame's grid was not kept");
        }
        if (_readsFlow && result.Flow?.Length != _flowSize)
        {
            throw new InvalidOperationException("the anomaly model reads the cells' flow, but the frame's flow was not measured");
        }
        // The time since the frame before, in the anomaly model's learned frame intervals: frames dropped under load, or
        // a stride, are more change between the two frames, not faster motion.
        var gap = state.LastTimestampMs is { } last && result.TimestampMs > last && _anomaly?.FrameIntervalMs is > 0
            ? (float)Math.Clamp((result.TimestampMs - last) / _anomaly.FrameIntervalMs.Value, MinGap, MaxGap)
            : 1f;
        state.LastTimestampMs = result.TimestampMs;
        state.Push(result.Embedding, result.Grid, _readsFlow ? result.Flow : null);
        if (_anomaly is not null && state.Count >= _anomaly.InputFrames && state.Seen % (_anomaly.Manifest.WindowStride ?? 1) == 0)
        {
            var window = _anomaly.ReadsGrid ? state.NewestWithGrids(_anomaly.InputFrames) : state.Newest(_anomaly.InputFrames);
            var output = await _anomaly.RunWithCellsAsync(window, 1, [gap], ct).ConfigureAwait(false);
            state.AnomalyScore = (float)_anomaly.Manifest.Anomaly!.Relative(output.Scores[0]);
            state.AnomalyCells = output.Cells.Length > 0 ? output.Cells : null;
            Runs++;
        }
        if (_activity is not null && state.Count >= _activity.InputFrames && state.Seen % (_activity.Manifest.WindowStride ?? 1) == 0)
        {
            var probabilities = await _activity.RunAsync(state.Newest(_activity.InputFrames), 1, ct).ConfigureAwait(false);
            var best = Array.IndexOf(probabilities, probabilities.Max());
            (state.Activity, state.ActivityConfidence) = (_activity.Manifest.Labels[best], probabilities[best]);
            Runs++;
        }
        var cells = _anomaly?.CellGrid;
        return new FrameAnalysis(state.Activity, state.ActivityConfidence, state.AnomalyScore,
            state.AnomalyCells, cells?.Height ?? 0, cells?.Width ?? 0);
    }

    /// <summary>The rings of one stream's features, oldest first when read.</summary>
    private sealed class StreamState(int capacity, int features, int gridCapacity, int gridSize)
    {
        private readonly float[] _ring = new float[capacity * features];
        private readonly float[] _grids = new float[gridCapacity * gridSize];
        private int _next;
        private int _nextGrid;
        private float[]? _window;

        public int Count { get; private set; }

        public long Seen { get; private set; }

        public string? Activity { get; set; }

        public float? ActivityConfidence { get; set; }

        public float? AnomalyScore { get; set; }

        public float[]? AnomalyCells { get; set; }

        public double? LastTimestampMs { get; set; }

        /// <param name="grid">The grid, and then <paramref name="flow"/> when the model reads it: together gridSize values.</param>
        public void Push(float[] embedding, float[]? grid, float[]? flow)
        {
            if (embedding.Length != features)
            {
                throw new ArgumentException($"embedding has {embedding.Length} values, the sequence models read {features}");
            }
            Seen++;
            if (capacity == 0)
            {
                return; // no model yet (a stream learning its first)
            }
            embedding.CopyTo(_ring, _next * features);
            _next = (_next + 1) % capacity;
            if (gridCapacity > 0)
            {
                var slot = _grids.AsSpan(_nextGrid * gridSize, gridSize);
                grid.AsSpan().CopyTo(slot);
                flow.AsSpan().CopyTo(slot[(grid?.Length ?? 0)..]);
                _nextGrid = (_nextGrid + 1) % gridCapacity;
            }
            Count = Math.Min(Count + 1, capacity);
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

        /// <summary>The newest <paramref name="frames"/> frames as embedding followed by grid (and flow), oldest first.</summary>
        /// <remarks>
        /// The window is this stream's own buffer, reused from frame to frame (it is 400 kB for the default model: a
        /// new one per frame would churn the large-object heap); valid until the next call, and the stage awaits each
        /// model call before it asks for the next window.
        /// </remarks>
        public float[] NewestWithGrids(int frames)
        {
            var size = features + gridSize;
            if (_window?.Length != frames * size)
            {
                _window = new float[frames * size];
            }
            var window = _window;
            for (var i = 0; i < frames; i++)
            {
                var slot = ((_next - frames + i) % capacity + capacity) % capacity;
                var gridSlot = ((_nextGrid - frames + i) % gridCapacity + gridCapacity) % gridCapacity;
                _ring.AsSpan(slot * features, features).CopyTo(window.AsSpan(i * size));
                _grids.AsSpan(gridSlot * gridSize, gridSize).CopyTo(window.AsSpan(i * size + features));
            }
            return window;
        }
    }
}
