using Edge.Models;
using Edge.Training.Data;

namespace Edge.Training.Evaluation;

/// <summary>
/// CLEAR-MOT and identity metrics of one sequence (or several combined), as MOTChallenge's evaluation (TrackEval)
/// defines them, at one IoU threshold.
/// </summary>
/// <param name="GroundTruth">Evaluated ground-truth boxes (ignored ones, conf 0, excluded).</param>
/// <param name="Hypotheses">Tracker boxes, less those that matched ignored ground truth.</param>
/// <param name="IdSwitches">Ground-truth boxes matched to a different track than the last time that object was matched.</param>
/// <param name="Fragmentations">Times an object's tracking resumed after it was interrupted.</param>
/// <param name="MotpSum">Sum of matched IoUs (MOTP = MotpSum / TruePositives), kept so that sequences combine.</param>
/// <param name="MostlyTracked">Objects matched in more than 80 % of their frames.</param>
/// <param name="MostlyLost">Objects matched in less than 20 % of their frames.</param>
/// <param name="IdTruePositives">Boxes matched under the best one-to-one mapping of ground-truth identities to track identities over the whole sequence.</param>
public sealed record MotMetrics(int Sequences, int Frames, int GroundTruth, int Hypotheses, int TruePositives, int FalseNegatives, int FalsePositives,
    int IdSwitches, int Fragmentations, double MotpSum, int Objects, int MostlyTracked, int PartiallyTracked, int MostlyLost,
    int IdTruePositives, int IdFalsePositives, int IdFalseNegatives)
{
    /// <summary>1 − (FN + FP + IDSW) / GT.</summary>
    public double Mota => GroundTruth == 0 ? 0 : 1 - (FalseNegatives + FalsePositives + IdSwitches) / (double)GroundTruth;

    /// <summary>Mean IoU of the matched boxes (higher is better, as TrackEval reports it).</summary>
    public double Motp => MotpSum / Math.Max(1, TruePositives);

    public double Idf1 => IdTruePositives / Math.Max(1.0, IdTruePositives + 0.5 * IdFalsePositives + 0.5 * IdFalseNegatives);

    public double IdPrecision => IdTruePositives / Math.Max(1.0, IdTruePositives + IdFalsePositives);

    public double IdRecall => IdTruePositives / Math.Max(1.0, IdTruePositives + IdFalseNegatives);

    public double Recall => TruePositives / Math.Max(1.0, GroundTruth);

    public double Precision => TruePositives / Math.Max(1.0, TruePositives + FalsePositives);

    /// <summary>Sums the counts of several sequences (MOTChallenge's combined row); the ratios follow from the sums.</summary>
    public static MotMetrics Combine(IEnumerable<MotMetrics> parts) =>
        parts.Aggregate(new MotMetrics(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), (a, b) => new MotMetrics(
            a.Sequences + b.Sequences, a.Frames + b.Frames, a.GroundTruth + b.GroundTruth, a.Hypotheses + b.Hypotheses, a.TruePositives + b.TruePositives,
            a.FalseNegatives + b.FalseNegatives, a.FalsePositives + b.FalsePositives, a.IdSwitches + b.IdSwitches, a.Fragmentations + b.Fragmentations,
            a.MotpSum + b.MotpSum, a.Objects + b.Objects, a.MostlyTracked + b.MostlyTracked, a.PartiallyTracked + b.PartiallyTracked,
            a.MostlyLost + b.MostlyLost, a.IdTruePositives + b.IdTruePositives, a.IdFalsePositives + b.IdFalsePositives, a.IdFalseNegatives + b.IdFalseNegatives));
}

/// <summary>
/// Scores tracker output against ground truth the way MOTChallenge's TrackEval does:
/// <list type="bullet">
/// <item>ignored ground truth (conf 0) is matched first, and tracker boxes it takes are removed, so nobody is punished
/// for tracking what was not asked for;</item>
/// <item>CLEAR-MOT: per frame, an optimal one-to-one matching at IoU ≥ threshold that keeps last frame's pairs when it
/// can; FN, FP, identity switches (a different track than the object's last match, however long ago), fragmentations
/// (resumed tracking), MOTP (mean IoU), mostly tracked (&gt; 80 % of the object's frames matched), partly, mostly lost
/// (&lt; 20 %);</item>
/// <item>identity: one global optimal one-to-one mapping between ground-truth and track identities minimising
/// IDFP + IDFN, counting frames where the two boxes overlap at IoU ≥ threshold; IDF1 = 2·IDTP / (2·IDTP + IDFP + IDFN).</item>
/// </list>
/// </summary>
public static class MotEvaluation
{
    // TrackEval's continuity bonus: last frame's pair wins any tie-break against a better overlap.
    private const double ContinuityBonus = 1000;

    public static MotMetrics Evaluate(IReadOnlyList<MotBox> truth, IReadOnlyList<MotBox> hypotheses, double iouThreshold = 0.5)
    {
        var truthByFrame = truth.ToLookup(b => b.Frame);
        var hypothesesByFrame = hypotheses.ToLookup(b => b.Frame);
        var lastFrame = Math.Max(truth.Count == 0 ? 0 : truth.Max(b => b.Frame), hypotheses.Count == 0 ? 0 : hypotheses.Max(b => b.Frame));

        // Dense indices for identities of evaluated ground truth and of kept hypotheses.
        var gtIndex = new Dictionary<int, int>();
        var hypIndex = new Dictionary<int, int>();
        var frames = new List<(MotBox[] Gt, MotBox[] Hyp)>(lastFrame);
        for (var f = 1; f <= lastFrame; f++)
        {
            var all = truthByFrame[f].ToArray();
            var hyp = hypothesesByFrame[f].ToArray();
            var ignored = all.Where(b => !b.Evaluated).ToArray();
            if (ignored.Length > 0 && hyp.Length > 0)
            {
                // Match every ground-truth box to the hypotheses at once; drop the hypotheses that ignored boxes take.
                var costs = IouCosts(all, hyp, iouThreshold, static (_, _, iou) => -iou);
                var assignment = LinearAssignment.Solve(costs, maxCost: 0);
                var removed = new HashSet<int>();
                for (var g = 0; g < all.Length; g++)
                {
                    if (assignment[g] >= 0 && !all[g].Evaluated)
                    {
                        removed.Add(assignment[g]);
                    }
                }
                hyp = [.. hyp.Where((_, i) => !removed.Contains(i))];
            }
            var gt = all.Where(b => b.Evaluated).ToArray();
            foreach (var b in gt)
            {
                gtIndex.TryAdd(b.Id, gtIndex.Count);
            }
            foreach (var b in hyp)
            {
                hypIndex.TryAdd(b.Id, hypIndex.Count);
            }
            frames.Add((gt, hyp));
        }

        int tp = 0, fn = 0, fp = 0, idsw = 0, gtCount = 0, hypCount = 0;
        double motpSum = 0;
        var objects = gtIndex.Count;
        var lastMatch = Enumerable.Repeat(-1, objects).ToArray();
        var previousFrameMatch = Enumerable.Repeat(-1, objects).ToArray();
        var matchedFrames = new int[objects];
        var resumed = new int[objects];
        var gtFrames = new int[objects];
        var hypFrames = new int[hypIndex.Count];
        var overlapFrames = new int[objects, hypIndex.Count];
        foreach (var (gt, hyp) in frames)
        {
            gtCount += gt.Length;
            hypCount += hyp.Length;
            var g = gt.Select(b => gtIndex[b.Id]).ToArray();
            var h = hyp.Select(b => hypIndex[b.Id]).ToArray();
            foreach (var i in g)
            {
                gtFrames[i]++;
            }
            foreach (var j in h)
            {
                hypFrames[j]++;
            }
            if (gt.Length == 0 || hyp.Length == 0)
            {
                // TrackEval skips such a frame without touching last frame's pairs: an empty frame neither breaks
                // continuity nor starts a fragment.
                continue;
            }
            var currentMatch = Enumerable.Repeat(-1, objects).ToArray();
            for (var a = 0; a < gt.Length; a++)
            {
                for (var b = 0; b < hyp.Length; b++)
                {
                    if (MotBox.Iou(gt[a], hyp[b]) >= iouThreshold)
                    {
                        overlapFrames[g[a], h[b]]++;
                    }
                }
            }
            // Maximum total score (unmatched costs nothing), as TrackEval's Hungarian over the score matrix.
            var costs = IouCosts(gt, hyp, iouThreshold, (a, b, iou) => -(iou + (previousFrameMatch[g[a]] == h[b] ? ContinuityBonus : 0)));
            var assignment = LinearAssignment.Solve(costs, maxCost: 0);
            for (var a = 0; a < gt.Length; a++)
            {
                if (assignment[a] < 0)
                {
                    continue;
                }
                var b = assignment[a];
                tp++;
                motpSum += MotBox.Iou(gt[a], hyp[b]);
                var (target, track) = (g[a], h[b]);
                if (lastMatch[target] >= 0 && lastMatch[target] != track)
                {
                    idsw++;
                }
                lastMatch[target] = track;
                currentMatch[target] = track;
                matchedFrames[target]++;
            }
            for (var i = 0; i < objects; i++)
            {
                // A new start of tracking: matched now, not at the previous frame (absent then counts as not matched).
                if (currentMatch[i] >= 0 && previousFrameMatch[i] < 0)
                {
                    resumed[i]++;
                }
            }
            previousFrameMatch = currentMatch;
        }
        fn = gtCount - tp;
        fp = hypCount - tp;
        var fragmentations = resumed.Where(r => r > 0).Sum(r => r - 1);
        int mostlyTracked = 0, partly = 0;
        for (var i = 0; i < objects; i++)
        {
            var ratio = gtFrames[i] == 0 ? 0 : matchedFrames[i] / (double)gtFrames[i];
            if (ratio > 0.8)
            {
                mostlyTracked++;
            }
            else if (ratio >= 0.2)
            {
                partly++;
            }
        }

        var (idtp, idfp, idfn) = IdentityCounts(gtFrames, hypFrames, overlapFrames);
        return new MotMetrics(1, lastFrame, gtCount, hypCount, tp, fn, fp, idsw, fragmentations, motpSum, objects,
            mostlyTracked, partly, objects - mostlyTracked - partly, idtp, idfp, idfn);
    }

    /// <summary>
    /// IDF1's global matching: each ground-truth identity is mapped to at most one track identity and back; an
    /// unmapped identity's boxes are all false negatives (or positives); a mapped pair's misses are the frames where
    /// either box is absent or they do not overlap enough. Solved as one square assignment, as TrackEval does.
    /// </summary>
    private static (int IdTp, int IdFp, int IdFn) IdentityCounts(int[] gtFrames, int[] hypFrames, int[,] overlap)
    {
        var (nGt, nHyp) = (gtFrames.Length, hypFrames.Length);
        if (nGt == 0 || nHyp == 0)
        {
            return (0, hypFrames.Sum(), gtFrames.Sum());
        }
        var n = nGt + nHyp;
        var fpCost = new double[n, n];
        var fnCost = new double[n, n];
        var costs = new double[n, n];
        for (var r = 0; r < n; r++)
        {
            for (var c = 0; c < n; c++)
            {
                (double fpc, double fnc) = (r < nGt, c < nHyp) switch
                {
                    (true, true) => (hypFrames[c] - overlap[r, c], gtFrames[r] - overlap[r, c]),
                    // Ground-truth identity r left unmapped (only to its own dummy).
                    (true, false) => c - nHyp == r ? (0, gtFrames[r]) : (double.PositiveInfinity, double.PositiveInfinity),
                    // Track identity c left unmapped (only to its own dummy).
                    (false, true) => r - nGt == c ? (hypFrames[c], 0) : (double.PositiveInfinity, double.PositiveInfinity),
                    (false, false) => (0, 0),
                };
                (fpCost[r, c], fnCost[r, c], costs[r, c]) = (fpc, fnc, fpc + fnc);
            }
        }
        var assignment = LinearAssignment.Solve(costs);
        double idfp = 0, idfn = 0;
        for (var r = 0; r < n; r++)
        {
            idfp += fpCost[r, assignment[r]];
            idfn += fnCost[r, assignment[r]];
        }
        return (gtFrames.Sum() - (int)idfn, (int)idfp, (int)idfn);
    }

    private static double[,] IouCosts(MotBox[] gt, MotBox[] hyp, double threshold, Func<int, int, double, double> cost)
    {
        var costs = new double[gt.Length, hyp.Length];
        for (var a = 0; a < gt.Length; a++)
        {
            for (var b = 0; b < hyp.Length; b++)
            {
                var iou = MotBox.Iou(gt[a], hyp[b]);
                costs[a, b] = iou >= threshold ? cost(a, b, iou) : double.PositiveInfinity;
            }
        }
        return costs;
    }
}
