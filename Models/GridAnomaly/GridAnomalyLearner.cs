using System.Numerics;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Learns the default anomaly model (<see cref="GridAnomalyParameters"/>) from a recording of normal footage, in plain
/// C#: no gradient training and no deep-learning runtime, so a serving bundle learns at a camera site in seconds.
/// Two passes over the recording: the first fits the projection (principal components of normal cells, whitened) and
/// samples the frame memory; the second fills the patch memory and the motion statistics. Every
/// <see cref="GridAnomalyOptions.HeldOutEvery"/>th block of <see cref="GridAnomalyOptions.BlockFrames"/> frames is
/// held out of the memories and calibrates the score. Memory stays bounded whatever the footage's length (samples of
/// at most FrameSample frames, PatchSample cells and HeldOutSample frames).
/// </summary>
public static class GridAnomalyLearner
{
    /// <summary>What learning measured beside the parameters, for the log and the learning status.</summary>
    /// <param name="FalseAlarmRate">
    /// The share of held-out normal frames above 1.0 when the score is calibrated without them: the held-out blocks of
    /// the footage's first half calibrate and those of its second half are scored, then the other way round (the
    /// model itself calibrates on all, so 1 % of them are above by construction). Footage whose activity changes
    /// within it (learning across a quiet and a busy hour, a camera that moved) shows here before it shows as false alarms.
    /// Null when the footage holds fewer than <see cref="BlocksToJudge"/> held-out blocks (a few minutes): too few to say.
    /// </param>
    public sealed record Report(long Frames, int MemoryFrames, int HeldOutFrames, double? FalseAlarmRate);

    /// <summary>Held-out blocks needed (half in each half of the footage) before the false-alarm rate is measured and enforced.</summary>
    public const int BlocksToJudge = 8;

    /// <summary>
    /// Learns from <paramref name="recording"/>. Throws <see cref="TrainingDataException"/> when the footage is too short
    /// to hold out calibration blocks, too uniform to calibrate (a still picture), or when the held-out false-alarm rate
    /// (<see cref="Report.FalseAlarmRate"/>) is above <see cref="GridAnomalyOptions.MaxFalseAlarmRate"/>.
    /// </summary>
    public static (GridAnomalyParameters Parameters, Report Report) Learn(FeatureRecording recording, GridAnomalyOptions? options = null,
        IProgress<string>? progress = null, CancellationToken ct = default)
    {
        var o = options ?? new GridAnomalyOptions();
        var grid = recording.Grid;
        var (e, cells, channels, d, w) = (recording.EmbeddingSize, grid.Height * grid.Width, grid.Channels, o.ProjectedChannels, o.CellWidth);
        var minimum = o.BlockFrames * o.HeldOutEvery;
        if (recording.Frames < minimum)
        {
            throw new TrainingDataException(
                $"normal footage too short: {recording.Frames} frames; at least {minimum} are needed ({o.BlockFrames}-frame blocks, every {o.HeldOutEvery}th held out to calibrate)");
        }
        if (recording.FlowWidth is { } flowWidth && flowWidth != FlowFeatures.WorkingWidth)
        {
            throw new TrainingDataException($"the recording's flow was measured {flowWidth} pixels wide, this Edge measures it {FlowFeatures.WorkingWidth} wide: record it again");
        }
        if (d < 1 || d > channels || o.TopK < 1 || o.PatchMemory < 1 || o.FrameMemory < 1 || o.MovingCellWeight is < 0 or > 1)
        {
            throw new ArgumentException($"inconsistent anomaly model options: {o}", nameof(options));
        }
        var random = new Random(o.Seed);
        var memoryFrames = recording.Frames - recording.Frames / o.HeldOutEvery;
        var frameStride = Math.Max(1, (int)(memoryFrames / o.FrameSample));

        // Pass 1: the channels' covariance over a spread sample of memory frames, and the frame memory's candidates.
        var sum = new double[channels];
        var outer = new double[channels * channels];
        var perFrame = new float[channels * channels];
        var frameCandidates = new List<float[]>();
        var frameCandidateAt = new List<long>();
        long sampledCells = 0;
        var memoryIndex = 0;
        foreach (var (heldOut, embedding, gridValues, _, _, _, at) in FramesWithStarts(recording, o))
        {
            ct.ThrowIfCancellationRequested();
            if (heldOut || memoryIndex++ % frameStride != 0)
            {
                continue;
            }
            frameCandidates.Add(GridAnomalyScorer.Unit(embedding));
            frameCandidateAt.Add(at);
            Array.Clear(perFrame);
            for (var cell = 0; cell < cells; cell++)
            {
                var x = gridValues.AsSpan(cell * channels, channels);
                for (var i = 0; i < channels; i++)
                {
                    sum[i] += x[i];
                    MultiplyAdd(perFrame.AsSpan(i * channels, channels), x, x[i]);
                }
            }
            for (var i = 0; i < outer.Length; i++)
            {
                outer[i] += perFrame[i];
            }
            sampledCells += cells;
        }
        progress?.Report($"projection from {sampledCells} normal cells");
        var mean = new float[channels];
        for (var i = 0; i < channels; i++)
        {
            mean[i] = (float)(sum[i] / sampledCells);
        }
        for (var i = 0; i < channels; i++)
        {
            for (var j = 0; j < channels; j++)
            {
                outer[i * channels + j] = outer[i * channels + j] / sampledCells - (double)mean[i] * mean[j];
            }
        }
        var (values, vectors) = SymmetricEigen.Decompose(outer, channels);
        if (values[0] <= 1e-12)
        {
            throw new TrainingDataException("normal footage too uniform: its features do not vary at all (a blank or constant picture)");
        }
        var projection = new float[channels * d];
        var variances = new float[d];
        for (var j = 0; j < d; j++)
        {
            variances[j] = (float)Math.Max(values[j], 1e-6 * values[0]);
            var scale = 1 / Math.Sqrt(variances[j]);
            for (var i = 0; i < channels; i++)
            {
                projection[i * d + j] = (float)(vectors[i * channels + j] * scale);
            }
        }
        var residualScale = (float)Math.Max(values.Skip(d).Sum(), 1e-6 * values[0]);
        var frameMemory = KCentre(frameCandidates, o.FrameMemory, e);

        // Pass 2: patch sample, motion statistics, held-out frames.
        var cellChance = Math.Min(1.0, (double)o.PatchSample / Math.Max(1, memoryFrames * cells));
        var heldOutStride = Math.Max(1, (int)(recording.Frames / o.HeldOutEvery / o.HeldOutSample));
        var patchSample = new List<float[]>();
        var patchAt = new List<long>();
        var lows = new List<float>();
        var highs = new List<float>();
        var lowsAtTwo = new List<float>();
        var highsAtTwo = new List<float>();
        var heldOutFrames = new List<HeldOutFrame>();
        var cellLengths = Enumerable.Range(0, cells).Select(_ => new List<float>()).ToArray();
        var flowStride = Math.Max(1, (int)(memoryFrames / o.PaceSample));
        float[]? previous = null;
        float[]? beforePrevious = null;
        float[]? previousChanges = null;
        var heldOutIndex = 0;
        var flowIndex = 0;
        foreach (var (isHeldOut, embedding, gridValues, flow, first, block, at) in FramesWithStarts(recording, o))
        {
            ct.ThrowIfCancellationRequested();
            if (first)
            {
                (previous, beforePrevious, previousChanges) = (null, null, null);
            }
            var projected = GridAnomalyScorer.Project(gridValues, mean, projection, cells, channels, d);
            var changes = previous is null ? null : GridAnomalyScorer.Changes(previous, projected, cells, d);
            var changesAtTwo = beforePrevious is null || isHeldOut ? null : GridAnomalyScorer.Changes(beforePrevious, projected, cells, d);
            (beforePrevious, previous) = (previous, projected);
            if (changesAtTwo is not null)
            {
                lowsAtTwo.Add(GridAnomalyScorer.Quantile(changesAtTwo, o.LowQuantile));
                highsAtTwo.Add(GridAnomalyScorer.Quantile(changesAtTwo, o.HighQuantile));
            }
            var residuals = GridAnomalyScorer.Residuals(gridValues, mean, projected, variances, residualScale, cells, channels);
            var described = GridAnomalyScorer.Augment(projected, residuals, o.ResidualWeight, cells, d);
            if (!isHeldOut)
            {
                for (var cell = 0; cell < cells; cell++)
                {
                    if (random.NextDouble() < cellChance)
                    {
                        patchSample.Add(described.AsSpan(cell * w, w).ToArray());
                        patchAt.Add(at);
                    }
                }
                if (changes is not null)
                {
                    lows.Add(GridAnomalyScorer.Quantile(changes, o.LowQuantile));
                    highs.Add(GridAnomalyScorer.Quantile(changes, o.HighQuantile));
                }
                if (flow is not null && !first && flowIndex++ % flowStride == 0)
                {
                    for (var cell = 0; cell < cells; cell++)
                    {
                        if (flow[cell * 2 + 1] > o.PaceMovingShare)
                        {
                            cellLengths[cell].Add(flow[cell * 2]);
                        }
                    }
                }
            }
            else if (changes is not null && heldOutIndex++ % heldOutStride == 0)
            {
                heldOutFrames.Add(new HeldOutFrame(described, GridAnomalyScorer.Unit(embedding), changes, previousChanges, (float[]?)flow?.Clone(), block, at));
            }
            previousChanges = changes;
        }
        if (heldOutFrames.Count < 10 || lows.Count < 10)
        {
            throw new TrainingDataException($"normal footage too short: {heldOutFrames.Count} held-out frames to calibrate on (at least 10 are needed)");
        }
        progress?.Report($"patch memory from {patchSample.Count} normal cells");
        var patchMemory = KCentre(patchSample, o.PatchMemory, w);
        var lowMedian = Math.Max(Median(lows), GridAnomalyOptions.Epsilon);
        var highMedian = Math.Max(Median(highs), GridAnomalyOptions.Epsilon);
        // How the change quantiles grow with the frames between the two compared: a power law, fitted from one frame
        // apart to two (on vtest, two to three frames apart follows the same exponent within 0.01).
        var lowExponent = GapExponent(lowsAtTwo, lowMedian);
        var highExponent = GapExponent(highsAtTwo, highMedian);
        if (Median(highs) < GridAnomalyOptions.Epsilon)
        {
            throw new TrainingDataException("normal footage too uniform: nothing moves in it (a frozen or still picture cannot calibrate the motion terms)");
        }

        // Held-out terms, their standardisation, the raw score's calibration and the cell map's scale. The frame and
        // patch terms are cross-fitted: a held-out frame is measured against memories without its neighbours in time
        // (the memories hold nearly every memory frame and a dense sample of its cells, so a frame or a person a
        // second away would always be there), and their spread is that of a scene's slow changes, as a camera's later
        // hours show them. The residual in the patch memory's cells keeps what the projection drops: without it, a
        // painted square in a street scored no higher than a new person once the patch term's spread was this wide.
        var (groupOf, frameMemories) = CrossFitMemories(heldOutFrames, o, frameCandidates, frameCandidateAt, o.FrameMemory, e);
        var (_, patchMemories) = CrossFitMemories(heldOutFrames, o, patchSample, patchAt, o.PatchMemory, w);

        // The pace term, when the recording has the cells' flow: each cell's normal flow length, then the spread of
        // held-out frames' pace around 0 (normal speed), over the frames where enough cells move to say (a frame where
        // nobody walks has pace 0 and would narrow it); footage where too few do learns no pace term.
        var flowNormal = recording.FlowSize > 0 && o.Terms.Contains(GridAnomalyParameters.PaceTerm) ? FlowCellNormal(cellLengths, grid) : null;
        var paces = new float[heldOutFrames.Count];
        var measured = new bool[heldOutFrames.Count];
        for (var i = 0; flowNormal is not null && i < heldOutFrames.Count; i++)
        {
            paces[i] = GridAnomalyScorer.Pace(heldOutFrames[i].Flow!, flowNormal, 1, o, out measured[i]);
        }
        var paceStd = PaceSpread(paces, measured, Enumerable.Range(0, paces.Length));
        if (paceStd is null)
        {
            flowNormal = null;
        }
        var paceWeight = flowNormal is null ? 0f : o.PaceWeight;

        // A model that reads the flow weighs its moving cells less in the patch term (GridAnomalyOptions.MovingCellWeight).
        var movingWeight = paceWeight > 0 ? o.MovingCellWeight : 1f;
        var terms = new float[heldOutFrames.Count][];
        var cellLogs = new List<float>(heldOutFrames.Count * cells);
        for (var i = 0; i < heldOutFrames.Count; i++)
        {
            var h = heldOutFrames[i];
            var distances = GridAnomalyScorer.NearestDistances(h.Cells, cells, patchMemories[groupOf[h.Block]] ?? patchMemory, w);
            var frame = GridAnomalyScorer.NearestDistances(h.Unit, 1, frameMemories[groupOf[h.Block]] ?? frameMemory, e)[0];
            var (still, motion) = GridAnomalyScorer.MotionTerms(h.Changes, o, lowMedian, highMedian);
            var weighed = GridAnomalyScorer.MovingWeighted(distances, h.Flow, o.MovingCellShare, movingWeight);
            terms[i] = [frame, GridAnomalyScorer.TopMean(weighed, o.TopK), still, motion];
            cellLogs.AddRange(distances.Select(x => MathF.Log(x + GridAnomalyOptions.Epsilon)));
        }
        var (logMean, logStd) = TermStandardisation(terms);
        var weights = GridAnomalyParameters.TermNames.Select(t => o.Terms.Contains(t) ? 1f : 0f).ToArray();
        var floor = o.TermFloor;
        var paceParts = paces.Select(x => GridAnomalyScorer.PacePart(x, paceStd ?? 1f, paceWeight, o.PaceFloor)).ToArray();
        var repeatWeight = o.Terms.Contains(GridAnomalyParameters.RepeatTerm) ? o.RepeatWeight : 0f;
        var repeatParts = heldOutFrames.Select(h => h.EarlierChanges is { } earlier ? GridAnomalyScorer.RepeatPart(earlier, highMedian, repeatWeight, o) : 0f).ToArray();
        var raws = terms.Select((t, i) => (double)(GridAnomalyScorer.Raw(t, logMean, logStd, weights, floor) + paceParts[i] + repeatParts[i])).Order().ToArray();
        var median = Statistics.Percentile(raws, 0.5);
        var p99 = Math.Max(Statistics.Percentile(raws, 0.99), median + 1e-3);
        var std = Math.Sqrt(raws.Average(x => (x - raws.Average()) * (x - raws.Average())));
        var cellMean = cellLogs.Average();
        var cellStd = Math.Max(Math.Sqrt(cellLogs.Average(x => (x - cellMean) * (x - cellMean))), 1e-3);
        var cellZ = cellLogs.Select(x => (x - cellMean) / cellStd).Order().ToArray();
        var cellP99 = Math.Max(Statistics.Percentile(cellZ, 0.99), 0.1);
        var parameters = new GridAnomalyParameters
        {
            Grid = grid,
            EmbeddingSize = e,
            Options = o,
            ChannelMean = mean,
            Projection = projection,
            PrincipalVariances = variances,
            ResidualScale = residualScale,
            PatchMemory = patchMemory,
            FrameMemory = frameMemory,
            LowChangeMedian = lowMedian,
            HighChangeMedian = highMedian,
            LowChangeExponent = lowExponent,
            HighChangeExponent = highExponent,
            FrameIntervalMs = recording.FrameIntervalMs is { } interval ? (float)interval : 0,
            TermLogMean = logMean,
            TermLogStd = logStd,
            TermWeights = weights,
            FlowCellNormal = flowNormal ?? [],
            PaceStd = paceStd ?? 1f,
            PaceWeight = paceWeight,
            RepeatWeight = repeatWeight,
            CellLogMean = (float)cellMean,
            CellLogStd = (float)cellStd,
            CellP99 = (float)cellP99,
            Calibration = new AnomalyCalibration(median, std, p99, 99, raws.Length),
            FramesLearned = recording.Frames,
        };
        var falseAlarms = CrossCheckedFalseAlarmRate(terms, new HeldOutPace(paces, measured, paceWeight, o.PaceFloor),
            [.. heldOutFrames.Select(h => h.Block)], weights, floor, repeatParts);
        if (falseAlarms is { } rate && rate > o.MaxFalseAlarmRate)
        {
            throw new TrainingDataException(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"model refused: {rate:P1} of held-out normal frames score above 1.0 (the limit is {o.MaxFalseAlarmRate:P1}); the footage is not steady enough to say what is normal here (learn longer, or at a time that shows the scene's usual activity)"));
        }
        return (parameters, new Report(recording.Frames, memoryIndex, heldOutFrames.Count, falseAlarms));
    }

    /// <summary>
    /// Two-fold estimate of the share of normal frames above 1.0: held-out blocks split into the footage's first and
    /// second half, each half scored with terms standardised, the pace's spread measured and the score calibrated
    /// (median and 99th percentile) on the other, exactly as the model is on all.
    /// </summary>
    internal static double? CrossCheckedFalseAlarmRate(float[][] terms, HeldOutPace pace, int[] blocks, float[] weights, float floor, float[]? repeatParts = null)
    {
        var blockOrder = blocks.Distinct().Order().ToArray();
        if (blockOrder.Length < BlocksToJudge)
        {
            return null;
        }
        var fold = blocks.Select(b => Array.BinarySearch(blockOrder, b) < blockOrder.Length / 2 ? 0 : 1).ToArray();
        var (above, checkedFrames) = (0, 0);
        for (var f = 0; f < 2; f++)
        {
            var calibrate = Enumerable.Range(0, terms.Length).Where(i => fold[i] != f).ToArray();
            var check = Enumerable.Range(0, terms.Length).Where(i => fold[i] == f).ToArray();
            var (logMean, logStd) = TermStandardisation([.. calibrate.Select(i => terms[i])]);
            // A half whose other half has too few frames to measure the pace's spread is scored without the pace term.
            var paceStd = pace.Weight > 0 ? PaceSpread(pace.Values, pace.Measured, calibrate) : null;
            double Raw(int i) => GridAnomalyScorer.Raw(terms[i], logMean, logStd, weights, floor)
                + (paceStd is { } std ? GridAnomalyScorer.PacePart(pace.Values[i], std, pace.Weight, pace.Floor) : 0)
                + (repeatParts?[i] ?? 0);
            var raws = calibrate.Select(Raw).Order().ToArray();
            var median = Statistics.Percentile(raws, 0.5);
            var p99 = Math.Max(Statistics.Percentile(raws, 0.99), median + 1e-3);
            above += check.Count(i => (Raw(i) - median) / (p99 - median) > 1);
            checkedFrames += check.Length;
        }
        return above / (double)checkedFrames;
    }

    /// <summary>Held-out frames' pace, whether enough cells moved to measure it, and the term's weight and floor.</summary>
    internal sealed record HeldOutPace(float[] Values, bool[] Measured, float Weight, float Floor);

    /// <summary>
    /// The pace's spread around normal speed: its root mean square over the <paramref name="frames"/> where it was
    /// measured (at least 0.02), or null when fewer than 10 were (frames where nobody walks have pace 0 and would
    /// narrow it).
    /// </summary>
    private static float? PaceSpread(float[] paces, bool[] measured, IEnumerable<int> frames)
    {
        var values = frames.Where(i => measured[i]).Select(i => (double)paces[i]).ToArray();
        return values.Length < 10 ? null : (float)Math.Max(Math.Sqrt(values.Average(x => x * x)), 0.02);
    }

    /// <summary>ln(median two frames apart / median one frame apart) / ln 2, within [0, 1.5]; 0 with too few frames.</summary>
    private static float GapExponent(List<float> atTwo, float atOne) =>
        atTwo.Count < 10 ? 0 : (float)Math.Clamp(Math.Log(Math.Max(Median(atTwo), GridAnomalyOptions.Epsilon) / atOne) / Math.Log(2), 0, 1.5);

    /// <summary>Mean and standard deviation (at least 0.05) of each term's log over <paramref name="terms"/>.</summary>
    private static (float[] Mean, float[] Std) TermStandardisation(float[][] terms)
    {
        var count = terms[0].Length;
        var logMean = new float[count];
        var logStd = new float[count];
        for (var k = 0; k < count; k++)
        {
            var logs = terms.Select(t => Math.Log(t[k] + GridAnomalyOptions.Epsilon)).ToArray();
            var m = logs.Average();
            logMean[k] = (float)m;
            logStd[k] = (float)Math.Max(Math.Sqrt(logs.Average(x => (x - m) * (x - m))), 0.05);
        }
        return (logMean, logStd);
    }

    /// <param name="EarlierChanges">The cell changes of the pair before (the frame before and the one before it), for the repeat term; null at a segment's second frame.</param>
    private sealed record HeldOutFrame(float[] Cells, float[] Unit, float[] Changes, float[]? EarlierChanges, float[]? Flow, int Block, long At);

    /// <summary>
    /// Each cell's normal flow length where it moves: its median over at least 10 samples, else its row's median (the
    /// perspective: people nearer the camera move more pixels), else all cells' median; null when nothing moved.
    /// </summary>
    private static float[]? FlowCellNormal(List<float>[] lengths, GridDescription grid)
    {
        const int enough = 10;
        var all = lengths.SelectMany(l => l).ToList();
        if (all.Count < enough)
        {
            return null;
        }
        var overall = Median(all);
        var result = new float[lengths.Length];
        for (var row = 0; row < grid.Height; row++)
        {
            var inRow = lengths.Skip(row * grid.Width).Take(grid.Width).SelectMany(l => l).ToList();
            var rowMedian = inRow.Count >= enough ? Median(inRow) : overall;
            for (var column = 0; column < grid.Width; column++)
            {
                var cell = lengths[row * grid.Width + column];
                result[row * grid.Width + column] = Math.Max(cell.Count >= enough ? Median(cell) : rowMedian, GridAnomalyOptions.Epsilon);
            }
        }
        return result;
    }

    /// <summary>
    /// Memories (frames or cells) for calibration that do not hold the held-out frames' neighbours: the held-out blocks
    /// are split in time into at most <see cref="CrossFitGroups"/> groups, and each group's memory is learned from the
    /// candidates of memory frames more than <see cref="GridAnomalyOptions.BlockFrames"/> frames from every block of the group. Returns
    /// each held-out block's group and each group's memory; null for a group with too few frames left (short
    /// footage), whose frames are then measured against the model's memory.
    /// </summary>
    private static (Dictionary<int, int> GroupOf, float[]?[] Memories) CrossFitMemories(List<HeldOutFrame> heldOut, GridAnomalyOptions o,
        List<float[]> candidates, List<long> candidateAt, int entries, int size)
    {
        var blocks = heldOut.GroupBy(h => h.Block).OrderBy(b => b.Key)
            .Select(b => (Block: b.Key, From: b.Min(h => h.At) - o.BlockFrames, To: b.Max(h => h.At) + o.BlockFrames)).ToArray();
        var groups = Math.Min(CrossFitGroups, blocks.Length);
        var groupOf = new Dictionary<int, int>();
        var memories = new float[]?[groups];
        for (var group = 0; group < groups; group++)
        {
            var members = blocks.Where((_, i) => i * groups / blocks.Length == group).ToArray();
            foreach (var member in members)
            {
                groupOf[member.Block] = group;
            }
            var far = candidates.Where((_, i) => members.All(m => candidateAt[i] < m.From || candidateAt[i] > m.To)).ToList();
            if (far.Count >= Math.Min(entries, candidates.Count / 4))
            {
                memories[group] = KCentre(far, entries, size);
            }
        }
        return (groupOf, memories);
    }

    /// <summary>The most groups of held-out blocks that calibration learns frame memories for (each a coreset).</summary>
    private const int CrossFitGroups = 4;

    private static void MultiplyAdd(Span<float> target, ReadOnlySpan<float> x, float scale)
    {
        var i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var s = new Vector<float>(scale);
            for (; i <= x.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                (new Vector<float>(target[i..]) + new Vector<float>(x[i..]) * s).CopyTo(target[i..]);
            }
        }
        for (; i < x.Length; i++)
        {
            target[i] += x[i] * scale;
        }
    }

    /// <summary>
    /// Every frame with whether its block is held out, whether it starts a segment, its block's number over the whole
    /// recording and its own position in the recording.
    /// </summary>
    private static IEnumerable<(bool HeldOut, float[] Embedding, float[] Grid, float[]? Flow, bool First, int Block, long At)> FramesWithStarts(FeatureRecording recording, GridAnomalyOptions o)
    {
        var blocksBefore = 0;
        long at = 0;
        foreach (var segment in recording.Segments)
        {
            var position = 0;
            foreach (var (embedding, grid, flow) in recording.Read(segment))
            {
                var block = position / o.BlockFrames;
                yield return (block % o.HeldOutEvery == o.HeldOutEvery - 1, embedding, grid, flow, position == 0, blocksBefore + block, at++);
                position++;
            }
            blocksBefore += (position + o.BlockFrames - 1) / o.BlockFrames;
        }
    }

    /// <summary>Greedy k-centre coreset: repeatedly the candidate farthest from those chosen so far; [k, size].</summary>
    public static float[] KCentre(IReadOnlyList<float[]> candidates, int k, int size)
    {
        if (candidates.Count == 0)
        {
            throw new TrainingDataException("no normal frames to learn from");
        }
        k = Math.Min(k, candidates.Count);
        var result = new float[k * size];
        var nearest = new float[candidates.Count];
        Array.Fill(nearest, float.MaxValue);
        var chosen = 0;
        for (var n = 0; n < k; n++)
        {
            var pick = candidates[chosen];
            pick.CopyTo(result, n * size);
            var best = -1f;
            for (var i = 0; i < candidates.Count; i++)
            {
                var c = candidates[i];
                float distance = 0;
                for (var j = 0; j < size; j++)
                {
                    var delta = c[j] - pick[j];
                    distance += delta * delta;
                }
                if (distance < nearest[i])
                {
                    nearest[i] = distance;
                }
                if (nearest[i] > best)
                {
                    best = nearest[i];
                    chosen = i;
                }
            }
        }
        return result;
    }

    private static float Median(List<float> values)
    {
        var sorted = values.ToArray();
        Array.Sort(sorted);
        return sorted[sorted.Length / 2];
    }
}
