namespace Edge.Models.GridAnomaly;

/// <summary>
/// The default anomaly model's arithmetic in plain C#: what the learner uses to calibrate on held-out frames and
/// what the ONNX graph (<see cref="GridAnomalyGraph"/>) is tested against. A frame's features are its embedding
/// followed by its grid ([E + H·W·C], cells row-major, each cell's channels contiguous), as the temporal stage keeps
/// them.
/// </summary>
public static class GridAnomalyScorer
{
    /// <summary>Each cell's channels minus their normal mean, through the whitened projection: [H·W, D].</summary>
    public static float[] Project(ReadOnlySpan<float> grid, float[] channelMean, float[] projection, int cells, int channels, int projected)
    {
        var result = new float[cells * projected];
        var centred = new float[channels];
        for (var cell = 0; cell < cells; cell++)
        {
            var source = grid.Slice(cell * channels, channels);
            for (var c = 0; c < channels; c++)
            {
                centred[c] = source[c] - channelMean[c];
            }
            var target = result.AsSpan(cell * projected, projected);
            for (var c = 0; c < channels; c++)
            {
                var value = centred[c];
                var row = projection.AsSpan(c * projected, projected);
                for (var j = 0; j < projected; j++)
                {
                    target[j] += value * row[j];
                }
            }
        }
        return result;
    }

    /// <summary>
    /// Each cell's distance from the normal cells' principal subspace, √((‖x − μ‖² − Σⱼ vⱼ·pⱼ²) / <paramref name="scale"/>)
    /// with pⱼ its whitened projection and vⱼ the variance along direction j: what the projection drops, 1 = the
    /// normal root mean square: [H·W].
    /// </summary>
    public static float[] Residuals(ReadOnlySpan<float> grid, float[] channelMean, float[] projected, float[] variances, float scale,
        int cells, int channels)
    {
        var d = variances.Length;
        var result = new float[cells];
        for (var cell = 0; cell < cells; cell++)
        {
            var source = grid.Slice(cell * channels, channels);
            double total = 0;
            for (var c = 0; c < channels; c++)
            {
                var value = source[c] - channelMean[c];
                total += value * value;
            }
            double inside = 0;
            for (var j = 0; j < d; j++)
            {
                var p = projected[cell * d + j];
                inside += variances[j] * p * p;
            }
            result[cell] = (float)Math.Sqrt(Math.Max(total - inside, 0) / scale);
        }
        return result;
    }

    /// <summary>The projected cells with each cell's weighted residual appended ([H·W, D + 1]), or as they are for weight 0.</summary>
    public static float[] Augment(float[] projected, float[] residuals, float weight, int cells, int d)
    {
        if (weight == 0)
        {
            return projected;
        }
        var result = new float[cells * (d + 1)];
        for (var cell = 0; cell < cells; cell++)
        {
            projected.AsSpan(cell * d, d).CopyTo(result.AsSpan(cell * (d + 1)));
            result[cell * (d + 1) + d] = weight * residuals[cell];
        }
        return result;
    }

    /// <summary>Distance from each of <paramref name="count"/> vectors to its nearest vector in <paramref name="memory"/>.</summary>
    public static float[] NearestDistances(ReadOnlySpan<float> vectors, int count, float[] memory, int size)
    {
        var result = new float[count];
        var entries = memory.Length / size;
        for (var i = 0; i < count; i++)
        {
            var v = vectors.Slice(i * size, size);
            var best = double.MaxValue;
            for (var m = 0; m < entries; m++)
            {
                var entry = memory.AsSpan(m * size, size);
                double sum = 0;
                for (var j = 0; j < size; j++)
                {
                    var d = v[j] - entry[j];
                    sum += d * d;
                }
                best = Math.Min(best, sum);
            }
            result[i] = (float)Math.Sqrt(best);
        }
        return result;
    }

    /// <summary>The embedding scaled to unit length.</summary>
    public static float[] Unit(ReadOnlySpan<float> embedding)
    {
        double sum = 0;
        foreach (var v in embedding)
        {
            sum += v * v;
        }
        var scale = sum > 0 ? 1 / Math.Sqrt(sum) : 0;
        var result = new float[embedding.Length];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = (float)(embedding[i] * scale);
        }
        return result;
    }

    /// <summary>How far each cell moved in projected space from the previous frame: [H·W].</summary>
    public static float[] Changes(float[] previous, float[] current, int cells, int projected)
    {
        var result = new float[cells];
        for (var cell = 0; cell < cells; cell++)
        {
            double sum = 0;
            for (var j = 0; j < projected; j++)
            {
                var d = current[cell * projected + j] - previous[cell * projected + j];
                sum += d * d;
            }
            result[cell] = (float)Math.Sqrt(sum);
        }
        return result;
    }

    /// <summary>The nearest-rank quantile of the values.</summary>
    public static float Quantile(float[] values, double quantile)
    {
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        return sorted[GridAnomalyParameters.Rank(quantile, sorted.Length) - 1];
    }

    /// <summary>The mean of the <paramref name="k"/> largest values.</summary>
    public static float TopMean(float[] values, int k)
    {
        var sorted = (float[])values.Clone();
        Array.Sort(sorted);
        k = Math.Min(k, sorted.Length);
        double sum = 0;
        for (var i = sorted.Length - k; i < sorted.Length; i++)
        {
            sum += sorted[i];
        }
        return (float)(sum / k);
    }

    /// <summary>The two motion terms from a frame's cell changes: |ln((q + ε) / normal median)| of the low and high quantiles.</summary>
    public static (float Still, float Motion) MotionTerms(float[] changes, GridAnomalyOptions options, float lowMedian, float highMedian) =>
        (MathF.Abs(MathF.Log((Quantile(changes, options.LowQuantile) + GridAnomalyOptions.Epsilon) / lowMedian)),
         MathF.Abs(MathF.Log((Quantile(changes, options.HighQuantile) + GridAnomalyOptions.Epsilon) / highMedian)));

    /// <summary>
    /// The terms (<see cref="GridAnomalyParameters.TermNames"/> order) and the cell distances of a frame (as measured:
    /// the moving cells' weight is the patch term's alone);
    /// <paramref name="gap"/> is how many learned frame intervals lie between the two frames (1 = consecutive).
    /// </summary>
    public static (float[] Terms, float[] CellDistances) Terms(GridAnomalyParameters p, ReadOnlySpan<float> previous, ReadOnlySpan<float> current, float gap = 1)
    {
        var (e, d, cells, c) = (p.EmbeddingSize, p.Options.ProjectedChannels, p.Cells, p.Grid.Channels);
        var now = Project(current[e..], p.ChannelMean, p.Projection, cells, c, d);
        var before = Project(previous[e..], p.ChannelMean, p.Projection, cells, c, d);
        var frame = NearestDistances(Unit(current[..e]), 1, p.FrameMemory, e)[0];
        var residuals = Residuals(current[e..], p.ChannelMean, now, p.PrincipalVariances, p.ResidualScale, cells, c);
        var distances = NearestDistances(Augment(now, residuals, p.Options.ResidualWeight, cells, d), cells, p.PatchMemory, p.Options.CellWidth);
        var (still, motion) = MotionTerms(Changes(before, now, cells, d), p.Options,
            p.LowChangeMedian * MathF.Pow(gap, p.LowChangeExponent), p.HighChangeMedian * MathF.Pow(gap, p.HighChangeExponent));
        var weighed = MovingWeighted(distances, current.Slice(e + p.Grid.Size, p.FlowSize), p.Options.MovingCellShare, p.MovingCellWeight);
        return ([frame, TopMean(weighed, p.Options.TopK), still, motion], distances);
    }

    /// <summary>
    /// The cell distances with those of moving cells (more than <paramref name="share"/> of their pixels moving, by the
    /// frame's cell flow) times <paramref name="weight"/>: what the patch term ranks; the distances themselves for
    /// weight 1 (a model that reads no flow, whose flow is empty).
    /// </summary>
    public static float[] MovingWeighted(float[] distances, ReadOnlySpan<float> flow, float share, float weight)
    {
        if (weight == 1)
        {
            return distances;
        }
        var result = (float[])distances.Clone();
        for (var cell = 0; cell < result.Length; cell++)
        {
            if (flow[cell * 2 + 1] > share)
            {
                result[cell] *= weight;
            }
        }
        return result;
    }

    /// <summary>The raw score: the sum over the weighted terms of max(0, z − floor), z = (ln(term + ε) − mean) / std.</summary>
    public static float Raw(float[] terms, float[] logMean, float[] logStd, float[] weights, float floor)
    {
        float raw = 0;
        for (var k = 0; k < terms.Length; k++)
        {
            raw += weights[k] * Math.Max(0, (MathF.Log(terms[k] + GridAnomalyOptions.Epsilon) - logMean[k]) / logStd[k] - floor);
        }
        return raw;
    }

    /// <summary>
    /// The pace of a frame from its cells' flow (<see cref="FlowFeatures"/>): the mean over cells whose moving share is
    /// above <see cref="GridAnomalyOptions.PaceMovingShare"/> of ln(max(length / gap, ε) / the cell's normal length); 0
    /// when fewer than <see cref="GridAnomalyOptions.PaceMinCells"/> cells move. Lengths are divided by the gap: a
    /// frame dropped between the two is twice the way, not twice the speed.
    /// </summary>
    public static float Pace(ReadOnlySpan<float> flow, float[] normal, float gap, GridAnomalyOptions o) =>
        Pace(flow, normal, gap, o, out _);

    /// <summary><see cref="Pace(ReadOnlySpan{float}, float[], float, GridAnomalyOptions)"/>, and whether enough cells moved to say.</summary>
    public static float Pace(ReadOnlySpan<float> flow, float[] normal, float gap, GridAnomalyOptions o, out bool measured)
    {
        double sum = 0;
        var moving = 0;
        for (var cell = 0; cell < normal.Length; cell++)
        {
            if (flow[cell * 2 + 1] > o.PaceMovingShare)
            {
                sum += MathF.Log(MathF.Max(flow[cell * 2] / gap, GridAnomalyOptions.Epsilon) / normal[cell]);
                moving++;
            }
        }
        measured = moving >= o.PaceMinCells;
        return measured ? (float)(sum / moving) : 0;
    }

    /// <summary>The pace term's part of the raw score: weight · max(0, |pace| / std − floor).</summary>
    public static float PacePart(float pace, float std, float weight, float floor) => weight * MathF.Max(0, MathF.Abs(pace) / std - floor);

    /// <summary>
    /// The repeat term's part of the raw score from the pair before the current one's cell changes:
    /// weight · max(0, ln(normal / (q + ε)) − floor), q their high quantile (<see cref="GridAnomalyOptions.RepeatWeight"/>).
    /// </summary>
    public static float RepeatPart(float[] earlierChanges, GridAnomalyParameters p) =>
        RepeatPart(earlierChanges, p.HighChangeMedian, p.RepeatWeight, p.Options);

    public static float RepeatPart(float[] earlierChanges, float highMedian, float weight, GridAnomalyOptions o) =>
        weight * MathF.Max(0, MathF.Log(highMedian / (Quantile(earlierChanges, o.HighQuantile) + GridAnomalyOptions.Epsilon)) - o.RepeatFloor);

    /// <summary>
    /// Scores the newest frame of a window of <see cref="GridAnomalyParameters.InputFrames"/> frames' features, oldest
    /// first, as the graph does: <see cref="Score(GridAnomalyParameters, ReadOnlySpan{float}, ReadOnlySpan{float}, float)"/>
    /// of the two newest, and the repeat term from the pair before them.
    /// </summary>
    public static (float Raw, float[] Cells) ScoreWindow(GridAnomalyParameters p, ReadOnlySpan<float> window, float gap = 1)
    {
        var size = p.FeatureSize;
        var newest = p.InputFrames - 1;
        var (raw, cells) = Score(p, window.Slice((newest - 1) * size, size), window.Slice(newest * size, size), gap);
        if (p.RepeatWeight > 0)
        {
            var (e, d, count, c) = (p.EmbeddingSize, p.Options.ProjectedChannels, p.Cells, p.Grid.Channels);
            var earliest = Project(window.Slice(e, p.Grid.Size), p.ChannelMean, p.Projection, count, c, d);
            var earlier = Project(window.Slice(size + e, p.Grid.Size), p.ChannelMean, p.Projection, count, c, d);
            raw += RepeatPart(Changes(earliest, earlier, count, d), p);
        }
        return (raw, cells);
    }

    /// <summary>A cell distance on the map's scale: 1 = the p99 of normal cells.</summary>
    public static float Cell(float distance, GridAnomalyParameters p) =>
        (MathF.Log(distance + GridAnomalyOptions.Epsilon) - p.CellLogMean) / p.CellLogStd / p.CellP99;

    /// <summary>
    /// Scores the newest of two consecutive frames' features (<paramref name="previous"/>, <paramref name="current"/>,
    /// each <see cref="GridAnomalyParameters.FeatureSize"/> values): the raw frame score and the cell map [H·W].
    /// </summary>
    public static (float Raw, float[] Cells) Score(GridAnomalyParameters p, ReadOnlySpan<float> previous, ReadOnlySpan<float> current, float gap = 1)
    {
        var (terms, distances) = Terms(p, previous, current, gap);
        var raw = Raw(terms, p.TermLogMean, p.TermLogStd, p.TermWeights, p.Options.TermFloor);
        if (p.ReadsFlow)
        {
            var pace = Pace(current.Slice(p.EmbeddingSize + p.Grid.Size, p.FlowSize), p.FlowCellNormal, gap, p.Options);
            raw += PacePart(pace, p.PaceStd, p.PaceWeight, p.Options.PaceFloor);
        }
        return (raw, [.. distances.Select(x => Cell(x, p))]);
    }
}
