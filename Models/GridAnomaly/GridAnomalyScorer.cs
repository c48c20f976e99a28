namespace Edge.Models.GridAnomaly;

/// <summary>
/// The default anomaly score in plain C#: the reference the ONNX graph (<see cref="GridAnomalyGraph"/>) is tested
/// against and what the learner calibrates with. A window is Steps + 1 consecutive grids; every grid is pooled over
/// neighbouring cells, centred and projected to a few channels, then three terms are computed:
/// <list type="bullet">
/// <item>memory: each cell of the newest frame, the distance to its nearest normal feature in that cell's memory
/// (normal features of the cells around it), standardised per cell: what is there that never was;</item>
/// <item>cell motion: per cell, the mean over the window's steps of the standardised log change between consecutive
/// frames, two-sided (|z|): a part of the picture that moves faster or slower than it does normally;</item>
/// <item>global motion: the log mean change of the whole grid per step, standardised; the largest of |last step|,
/// −min, max and |mean| over the window: a frozen feed, repeated frames, skipped frames, a shaking camera.</item>
/// </list>
/// The frame's memory and motion terms are the mean of the TopK largest cell values; each term is put on its own
/// held-out scale ((x − mean) / (p99 − mean)) and the raw score is the largest of the three. The cell map is the
/// larger of the memory z and |motion z| per cell, each divided by its held-out p99 (1 = the p99 of normal cells).
/// </summary>
public sealed class GridAnomalyScorer(GridAnomalyParameters parameters)
{
    private readonly GridAnomalyParameters _p = parameters;

    /// <summary>The three frame terms (memory, cell motion, global motion) of one window, before their relative scaling.</summary>
    public readonly record struct Terms(float Memory, float CellMotion, float GlobalMotion);

    /// <summary>Scores one window [Steps + 1, H·W·C]: the raw frame score, its terms, and the cell map [H·W].</summary>
    public (float Raw, Terms Terms, float[] Cells) Score(ReadOnlySpan<float> window)
    {
        var frames = _p.InputFrames;
        var cells = _p.Cells;
        var d = _p.Options.ProjectedChannels;
        var projected = new float[frames][];
        for (var f = 0; f < frames; f++)
        {
            projected[f] = Project(_p, window.Slice(f * _p.Grid.Size, _p.Grid.Size));
        }
        var memoryZ = MemoryZ(projected[frames - 1]);
        var (cellMotion, globalSteps) = Motion(projected);
        var motionAbs = cellMotion.Select(Math.Abs).ToArray();
        var terms = new Terms(TopKMean(memoryZ, _p.Options.TopK), TopKMean(motionAbs, _p.Options.TopK), GlobalTerm(globalSteps));
        var map = new float[cells];
        for (var c = 0; c < cells; c++)
        {
            map[c] = Math.Max(memoryZ[c] / _p.CellP99[0], motionAbs[c] / _p.CellP99[1]);
        }
        _ = d;
        return (Raw(terms), terms, map);
    }

    /// <summary>The raw frame score: the largest term on its held-out relative scale.</summary>
    public float Raw(Terms terms) =>
        Math.Max(Relative(terms.Memory, 0), Math.Max(Relative(terms.CellMotion, 1), Relative(terms.GlobalMotion, 2)));

    private float Relative(float x, int term) => (x - _p.TermMean[term]) / (_p.TermP99[term] - _p.TermMean[term]);

    /// <summary>Per-cell standardised distance of the frame's projected cells to their memories.</summary>
    public float[] MemoryZ(float[] projected)
    {
        var distances = MemoryDistances(projected, _p.Memory, _p.Cells, _p.Options.MemoryPerCell, _p.Options.ProjectedChannels);
        for (var c = 0; c < distances.Length; c++)
        {
            distances[c] = (distances[c] - _p.MemoryMean[c]) / _p.MemoryStd[c];
        }
        return distances;
    }

    /// <summary>Per-cell mean standardised log change over the window, and the standardised global log change per step.</summary>
    public (float[] CellMotion, float[] GlobalSteps) Motion(float[][] projected)
    {
        var cells = _p.Cells;
        var d = _p.Options.ProjectedChannels;
        var steps = projected.Length - 1;
        var cell = new float[cells];
        var global = new float[steps];
        for (var s = 0; s < steps; s++)
        {
            double sum = 0;
            for (var c = 0; c < cells; c++)
            {
                var change = Change(projected[s], projected[s + 1], c, d);
                sum += change;
                cell[c] += (MathF.Log(change + GridAnomalyOptions.MotionEpsilon) - _p.MotionMean[c]) / _p.MotionStd[c] / steps;
            }
            global[s] = (MathF.Log((float)(sum / cells) + GridAnomalyOptions.MotionEpsilon) - _p.GlobalMean) / _p.GlobalStd;
        }
        return (cell, global);
    }

    /// <summary>The global motion term: the largest of |last step|, −min, max and |mean| of the standardised steps.</summary>
    public static float GlobalTerm(float[] steps)
    {
        var last = Math.Abs(steps[^1]);
        var min = steps.Min();
        var max = steps.Max();
        var mean = Math.Abs(steps.Average());
        return Math.Max(Math.Max(last, -min), Math.Max(max, mean));
    }

    /// <summary>‖a[c] − b[c]‖ for cell c of two projected frames [H·W, D].</summary>
    public static float Change(float[] a, float[] b, int c, int d)
    {
        float sum = 0;
        for (var k = 0; k < d; k++)
        {
            var v = b[c * d + k] - a[c * d + k];
            sum += v * v;
        }
        return MathF.Sqrt(sum);
    }

    /// <summary>Mean of the <paramref name="k"/> largest values.</summary>
    public static float TopKMean(float[] values, int k)
    {
        k = Math.Min(k, values.Length);
        var sorted = values.ToArray();
        Array.Sort(sorted);
        double sum = 0;
        for (var i = sorted.Length - k; i < sorted.Length; i++)
        {
            sum += sorted[i];
        }
        return (float)(sum / k);
    }

    /// <summary>
    /// Pools one grid [H·W·C] over neighbouring cells (average over the cells within PoolRadius, borders averaging
    /// fewer cells), subtracts the channel mean and projects: [H·W, D].
    /// </summary>
    public static float[] Project(GridAnomalyParameters p, ReadOnlySpan<float> grid) => Project(grid, p.Grid, p.Options, p.ChannelMean, p.Projection);

    public static float[] Project(ReadOnlySpan<float> grid, GridDescription g, GridAnomalyOptions o, float[] mean, float[] projection)
    {
        var pooled = Pool(grid, g, o.PoolRadius);
        var channels = g.Channels;
        var d = o.ProjectedChannels;
        var cells = g.Height * g.Width;
        var result = new float[cells * d];
        var centred = new float[channels];
        for (var c = 0; c < cells; c++)
        {
            for (var k = 0; k < channels; k++)
            {
                centred[k] = pooled[c * channels + k] - mean[k];
            }
            var row = result.AsSpan(c * d, d);
            for (var k = 0; k < channels; k++)
            {
                var x = centred[k];
                var weights = projection.AsSpan(k * d, d);
                for (var j = 0; j < d; j++)
                {
                    row[j] += x * weights[j];
                }
            }
        }
        return result;
    }

    /// <summary>Average over the cells within <paramref name="radius"/> (count_include_pad = 0, as ONNX AveragePool).</summary>
    public static float[] Pool(ReadOnlySpan<float> grid, GridDescription g, int radius)
    {
        if (radius == 0)
        {
            return grid.ToArray();
        }
        var (h, w, channels) = (g.Height, g.Width, g.Channels);
        var result = new float[grid.Length];
        for (var r = 0; r < h; r++)
        {
            for (var c = 0; c < w; c++)
            {
                var target = result.AsSpan((r * w + c) * channels, channels);
                var count = 0;
                for (var rr = Math.Max(0, r - radius); rr <= Math.Min(h - 1, r + radius); rr++)
                {
                    for (var cc = Math.Max(0, c - radius); cc <= Math.Min(w - 1, c + radius); cc++)
                    {
                        var source = grid.Slice((rr * w + cc) * channels, channels);
                        for (var k = 0; k < channels; k++)
                        {
                            target[k] += source[k];
                        }
                        count++;
                    }
                }
                for (var k = 0; k < channels; k++)
                {
                    target[k] /= count;
                }
            }
        }
        return result;
    }

    /// <summary>Per cell, the distance of the projected feature to its nearest entry in that cell's memory [H·W, K, D].</summary>
    public static float[] MemoryDistances(float[] projected, float[] memory, int cells, int perCell, int d)
    {
        var result = new float[cells];
        for (var c = 0; c < cells; c++)
        {
            var x = projected.AsSpan(c * d, d);
            var best = float.MaxValue;
            for (var m = 0; m < perCell; m++)
            {
                var entry = memory.AsSpan((c * perCell + m) * d, d);
                float sum = 0;
                for (var k = 0; k < d; k++)
                {
                    var v = x[k] - entry[k];
                    sum += v * v;
                }
                best = Math.Min(best, sum);
            }
            result[c] = MathF.Sqrt(best);
        }
        return result;
    }
}
