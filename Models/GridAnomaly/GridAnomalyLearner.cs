namespace Edge.Models.GridAnomaly;

/// <summary>
/// Learns the default anomaly model from normal footage in plain C# (no gradient training, no TorchSharp): frames
/// are fed one at a time (<see cref="Add"/>), in order, with <see cref="EndSequence"/> between recordings. Memory stays
/// bounded whatever the footage's length: each cell keeps at most OwnBufferPerCell projected features (reduced by
/// greedy k-centre to MemoryPerCell whenever the buffer fills), the held-out frames are a reservoir of at most
/// MaxHeldOutFrames, and the motion statistics are running sums. At 14×14 cells, 32 channels and the defaults that
/// is about 26 MB for the memory buffers plus 38 MB for held-out frames, for 30 minutes at 10 fps as for 40 s.
/// Not thread-safe.
/// </summary>
public sealed class GridAnomalyLearner
{
    private readonly GridDescription _grid;
    private readonly GridAnomalyOptions _o;
    private readonly int _cells;
    private readonly int _d;
    private readonly float[] _projection;
    private float[]? _mean;
    private readonly float[][] _own;
    private readonly int[] _ownCount;
    private readonly double[] _motionSum;
    private readonly double[] _motionSquares;
    private long _motionCount;
    private double _globalSum;
    private double _globalSquares;
    private float[]? _previous;
    private long _frames;
    private long _memoryFrames;
    private int _blockInSequence = -1;
    private readonly List<List<float[]>> _heldOutBlocks = [];
    private List<float[]>? _currentHeldOut;
    private long _heldOutBlocksSeen;
    private readonly Random _reservoir;

    public GridAnomalyLearner(GridDescription grid, GridAnomalyOptions? options = null)
    {
        _grid = grid;
        _o = options ?? new GridAnomalyOptions();
        if (_o.Steps < 1 || _o.TopK < 1 || _o.MemoryPerCell < 1 || _o.OwnBufferPerCell <= _o.MemoryPerCell || _o.ProjectedChannels < 1
            || _o.BlockFrames <= _o.Steps + 1 || _o.HeldOutEvery < 2)
        {
            throw new ArgumentException($"inconsistent grid anomaly options: {_o}", nameof(options));
        }
        _cells = grid.Height * grid.Width;
        _d = _o.ProjectedChannels;
        _projection = RandomProjection(grid.Channels, _d, _o.Seed);
        _own = [.. Enumerable.Range(0, _cells).Select(_ => new float[_o.OwnBufferPerCell * _d])];
        _ownCount = new int[_cells];
        _motionSum = new double[_cells];
        _motionSquares = new double[_cells];
        _reservoir = new Random(_o.Seed);
    }

    /// <summary>Frames added so far.</summary>
    public long Frames => _frames;

    /// <summary>Adds the next frame's grid [H·W·C] of the current recording.</summary>
    public void Add(ReadOnlySpan<float> grid)
    {
        if (grid.Length != _grid.Size)
        {
            throw new ArgumentException($"grid has {grid.Length} values, expected {_grid.Size} ({_grid.Height}×{_grid.Width}×{_grid.Channels})", nameof(grid));
        }
        _mean ??= ChannelMean(GridAnomalyScorer.Pool(grid, _grid, _o.PoolRadius));
        var projected = GridAnomalyScorer.Project(grid, _grid, _o, _mean, _projection);
        if (_previous is not null)
        {
            double sum = 0;
            for (var c = 0; c < _cells; c++)
            {
                var change = GridAnomalyScorer.Change(_previous, projected, c, _d);
                sum += change;
                var log = Math.Log(change + GridAnomalyOptions.MotionEpsilon);
                _motionSum[c] += log;
                _motionSquares[c] += log * log;
            }
            var global = Math.Log(sum / _cells + GridAnomalyOptions.MotionEpsilon);
            _globalSum += global;
            _globalSquares += global * global;
            _motionCount++;
        }
        _previous = projected;

        var position = ++_blockInSequence;
        var block = position / _o.BlockFrames;
        var heldOut = block % _o.HeldOutEvery == _o.HeldOutEvery - 1;
        if (heldOut)
        {
            if (position % _o.BlockFrames == 0)
            {
                StartHeldOutBlock();
            }
            _currentHeldOut?.Add(projected);
        }
        else
        {
            _currentHeldOut = null;
            Remember(projected);
            _memoryFrames++;
        }
        _frames++;
    }

    /// <summary>Ends the current recording: the next frame starts a new one (no motion across the cut).</summary>
    public void EndSequence()
    {
        _previous = null;
        _currentHeldOut = null;
        _blockInSequence = -1;
    }

    /// <summary>
    /// Builds the memories, standardises every term on the held-out frames and calibrates the frame score on held-out
    /// windows. Throws <see cref="TrainingDataException"/> when the footage is too short or too uniform.
    /// </summary>
    public GridAnomalyParameters Learn()
    {
        var windowsPerBlock = _o.BlockFrames - _o.Steps;
        var heldOutFrames = _heldOutBlocks.Sum(b => b.Count);
        var minimumFrames = _o.BlockFrames * _o.HeldOutEvery;
        if (_frames < minimumFrames || _memoryFrames < _o.BlockFrames || _heldOutBlocks.Count(b => b.Count > _o.Steps) == 0)
        {
            throw new TrainingDataException(
                $"normal footage too short: {_frames} frames ({_memoryFrames} for the memory, {heldOutFrames} held out); at least {minimumFrames} consecutive frames are needed ({_o.BlockFrames}-frame blocks, every {_o.HeldOutEvery}th held out to calibrate)");
        }
        var memory = BuildMemory();
        var motionMean = new float[_cells];
        var motionStd = new float[_cells];
        for (var c = 0; c < _cells; c++)
        {
            var mean = _motionSum[c] / _motionCount;
            motionMean[c] = (float)mean;
            motionStd[c] = (float)Math.Max(Math.Sqrt(Math.Max(_motionSquares[c] / _motionCount - mean * mean, 0)), 1e-3);
        }
        var globalMean = _globalSum / _motionCount;
        var globalStd = Math.Sqrt(Math.Max(_globalSquares / _motionCount - globalMean * globalMean, 0));
        if (globalStd < 1e-3)
        {
            throw new TrainingDataException(
                $"normal footage too uniform: the picture changes by the same amount every frame (std of log change {globalStd:0.0000}); a still image or a frozen feed cannot be calibrated");
        }

        // Held-out memory distances standardise the memory term per cell.
        var distances = _heldOutBlocks.SelectMany(b => b).Select(f => GridAnomalyScorer.MemoryDistances(f, memory, _cells, _o.MemoryPerCell, _d)).ToList();
        var memoryMean = new float[_cells];
        var memoryStd = new float[_cells];
        for (var c = 0; c < _cells; c++)
        {
            var mean = distances.Average(v => v[c]);
            memoryMean[c] = (float)mean;
            memoryStd[c] = (float)Math.Sqrt(distances.Average(v => (v[c] - mean) * (v[c] - mean)));
        }
        var floor = Math.Max(0.1f * memoryStd.Order().ElementAt(_cells / 2), 1e-6f);
        for (var c = 0; c < _cells; c++)
        {
            memoryStd[c] = Math.Max(memoryStd[c], floor);
        }

        var provisional = new GridAnomalyParameters
        {
            Grid = _grid,
            Options = _o,
            ChannelMean = _mean!,
            Projection = _projection,
            Memory = memory,
            MemoryMean = memoryMean,
            MemoryStd = memoryStd,
            MotionMean = motionMean,
            MotionStd = motionStd,
            GlobalMean = (float)globalMean,
            GlobalStd = (float)globalStd,
            TermMean = [0, 0, 0],
            TermP99 = [1, 1, 1],
            CellP99 = [1, 1],
            Calibration = new AnomalyCalibration(0, 1, 1, 99, 0),
            FramesLearned = (int)Math.Min(_frames, int.MaxValue),
        };
        var scorer = new GridAnomalyScorer(provisional);
        var terms = new List<GridAnomalyScorer.Terms>();
        var memoryCells = new List<double>();
        var motionCells = new List<double>();
        foreach (var block in _heldOutBlocks)
        {
            for (var end = _o.Steps; end < block.Count; end++)
            {
                var projected = block.GetRange(end - _o.Steps, _o.Steps + 1).ToArray();
                var memoryZ = scorer.MemoryZ(projected[^1]);
                var (cellMotion, global) = scorer.Motion(projected);
                var motionAbs = cellMotion.Select(Math.Abs).ToArray();
                terms.Add(new GridAnomalyScorer.Terms(GridAnomalyScorer.TopKMean(memoryZ, _o.TopK), GridAnomalyScorer.TopKMean(motionAbs, _o.TopK),
                    GridAnomalyScorer.GlobalTerm(global)));
                memoryCells.AddRange(memoryZ.Select(v => (double)v));
                motionCells.AddRange(motionAbs.Select(v => (double)v));
            }
        }
        if (terms.Count < 20)
        {
            throw new TrainingDataException($"normal footage too short: only {terms.Count} held-out windows of {_o.Steps + 1} frames to calibrate (at least 20)");
        }
        var termMean = new float[3];
        var termP99 = new float[3];
        var columns = new Func<GridAnomalyScorer.Terms, float>[] { t => t.Memory, t => t.CellMotion, t => t.GlobalMotion };
        for (var i = 0; i < 3; i++)
        {
            var values = terms.Select(t => (double)columns[i](t)).ToArray();
            Array.Sort(values);
            var mean = values.Average();
            var p99 = Statistics.Percentile(values, 0.99);
            var spread = Math.Sqrt(values.Average(v => (v - mean) * (v - mean)));
            if (p99 - mean < 1e-4 || spread < 1e-5)
            {
                throw new TrainingDataException(
                    $"normal footage too uniform to calibrate: the {new[] { "memory", "cell motion", "global motion" }[i]} term hardly varies over {terms.Count} held-out windows");
            }
            termMean[i] = (float)mean;
            termP99[i] = (float)p99;
        }
        var cellP99 = new[] { Math.Max((float)Statistics.PercentileOf(memoryCells, 0.99), 1e-3f), Math.Max((float)Statistics.PercentileOf(motionCells, 0.99), 1e-3f) };
        var calibrated = provisional with { TermMean = termMean, TermP99 = termP99, CellP99 = cellP99 };
        var final = new GridAnomalyScorer(calibrated);
        var raw = terms.Select(t => (double)final.Raw(t)).ToArray();
        Array.Sort(raw);
        var rawMean = raw.Average();
        var rawStd = Math.Sqrt(raw.Average(v => (v - rawMean) * (v - rawMean)));
        return calibrated with { Calibration = new AnomalyCalibration(rawMean, rawStd, Statistics.Percentile(raw, 0.99), 99, raw.Length) };
    }

    private void StartHeldOutBlock()
    {
        // Reservoir sampling over held-out blocks keeps at most MaxHeldOutFrames frames, spread over the whole footage.
        var capacity = Math.Max(1, _o.MaxHeldOutFrames / _o.BlockFrames);
        _heldOutBlocksSeen++;
        var block = new List<float[]>(_o.BlockFrames);
        if (_heldOutBlocks.Count < capacity)
        {
            _heldOutBlocks.Add(block);
            _currentHeldOut = block;
            return;
        }
        var slot = _reservoir.NextInt64(_heldOutBlocksSeen);
        if (slot < capacity)
        {
            _heldOutBlocks[(int)slot] = block;
            _currentHeldOut = block;
        }
        else
        {
            _currentHeldOut = null;
        }
    }

    private void Remember(float[] projected)
    {
        for (var c = 0; c < _cells; c++)
        {
            if (_ownCount[c] == _o.OwnBufferPerCell)
            {
                var kept = KCentre(_own[c], _ownCount[c], _d, _o.MemoryPerCell);
                kept.CopyTo(_own[c], 0);
                _ownCount[c] = _o.MemoryPerCell;
            }
            projected.AsSpan(c * _d, _d).CopyTo(_own[c].AsSpan(_ownCount[c] * _d));
            _ownCount[c]++;
        }
    }

    /// <summary>Each cell's memory: a k-centre coreset of the own coresets of the cells in its neighbourhood.</summary>
    private float[] BuildMemory()
    {
        var own = new float[_cells][];
        var counts = new int[_cells];
        for (var c = 0; c < _cells; c++)
        {
            var n = Math.Min(_ownCount[c], _o.MemoryPerCell);
            own[c] = _ownCount[c] > _o.MemoryPerCell ? KCentre(_own[c], _ownCount[c], _d, n) : _own[c].AsSpan(0, n * _d).ToArray();
            counts[c] = n;
        }
        var k = _o.MemoryPerCell;
        var memory = new float[_cells * k * _d];
        var radius = _o.Neighbourhood;
        for (var r = 0; r < _grid.Height; r++)
        {
            for (var c = 0; c < _grid.Width; c++)
            {
                var pool = new List<float>();
                for (var rr = Math.Max(0, r - radius); rr <= Math.Min(_grid.Height - 1, r + radius); rr++)
                {
                    for (var cc = Math.Max(0, c - radius); cc <= Math.Min(_grid.Width - 1, c + radius); cc++)
                    {
                        pool.AddRange(own[rr * _grid.Width + cc]);
                    }
                }
                var points = pool.ToArray();
                var n = points.Length / _d;
                var kept = KCentre(points, n, _d, Math.Min(k, n));
                var target = memory.AsSpan((r * _grid.Width + c) * k * _d, k * _d);
                for (var m = 0; m < k; m++)
                {
                    // Fewer points than slots: repeat the first ones (a repeated entry changes no nearest distance).
                    kept.AsSpan(m % (kept.Length / _d) * _d, _d).CopyTo(target.Slice(m * _d, _d));
                }
            }
        }
        return memory;
    }

    /// <summary>
    /// Greedy k-centre: starting from the first point, repeatedly keeps the point farthest from those kept, so the
    /// kept points cover all of them within the smallest radius the greedy rule finds (at most twice the optimum).
    /// Returns [k, d].
    /// </summary>
    public static float[] KCentre(float[] points, int count, int d, int k)
    {
        k = Math.Min(k, count);
        var result = new float[k * d];
        var nearest = new float[count];
        Array.Fill(nearest, float.MaxValue);
        var chosen = 0;
        for (var i = 0; i < k; i++)
        {
            var centre = points.AsSpan(chosen * d, d);
            centre.CopyTo(result.AsSpan(i * d, d));
            var farthest = 0;
            var farthestDistance = -1f;
            for (var p = 0; p < count; p++)
            {
                var point = points.AsSpan(p * d, d);
                float sum = 0;
                for (var j = 0; j < d; j++)
                {
                    var v = point[j] - centre[j];
                    sum += v * v;
                }
                if (sum < nearest[p])
                {
                    nearest[p] = sum;
                }
                if (nearest[p] > farthestDistance)
                {
                    farthestDistance = nearest[p];
                    farthest = p;
                }
            }
            chosen = farthest;
        }
        return result;
    }

    private float[] ChannelMean(float[] pooled)
    {
        var mean = new float[_grid.Channels];
        for (var c = 0; c < _cells; c++)
        {
            for (var k = 0; k < _grid.Channels; k++)
            {
                mean[k] += pooled[c * _grid.Channels + k] / _cells;
            }
        }
        return mean;
    }

    /// <summary>A Gaussian random projection [C, D] scaled by 1/√D (Johnson–Lindenstrauss: distances are kept on average).</summary>
    public static float[] RandomProjection(int channels, int d, int seed)
    {
        var random = new Random(seed);
        var result = new float[channels * d];
        var scale = 1 / Math.Sqrt(d);
        for (var i = 0; i < result.Length; i++)
        {
            var u1 = 1 - random.NextDouble();
            var u2 = random.NextDouble();
            result[i] = (float)(Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2) * scale);
        }
        return result;
    }
}
