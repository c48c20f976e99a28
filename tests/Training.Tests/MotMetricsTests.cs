using Edge.Models;
using Edge.Training.Data;
using Edge.Training.Evaluation;

namespace Edge.Training.Tests;

/// <summary>Small sequences whose CLEAR-MOT and identity numbers are worked out by hand in each test's comment.</summary>
public sealed class MotMetricsTests
{
    [Fact]
    public void Evaluate_PerfectTracking_AllOnes()
    {
        var truth = Walk(1, 1, 10, x: 0).Concat(Walk(2, 1, 10, x: 200)).ToList();

        var m = MotEvaluation.Evaluate(truth, truth);

        Assert.Equal((20, 20, 0, 0, 0, 0), (m.GroundTruth, m.TruePositives, m.FalseNegatives, m.FalsePositives, m.IdSwitches, m.Fragmentations));
        Assert.Equal((1.0, 1.0, 1.0), (m.Mota, m.Idf1, m.Motp));
        Assert.Equal((2, 0, 0), (m.MostlyTracked, m.PartiallyTracked, m.MostlyLost));
    }

    [Fact]
    public void Evaluate_IdSwitchHalfway_MotaCountsOneSwitchIdf1HalvesIdentity()
    {
        // One object over 4 frames, tracked as 1 in frames 1-2 and as 2 in frames 3-4.
        // CLEAR: TP 4, FN 0, FP 0, IDSW 1 → MOTA = 1 − 1/4 = 0.75; no interruption, so no fragmentation.
        // Identity: the best mapping keeps 1 (or 2) for 2 frames → IDTP 2, IDFN 2, IDFP 2 → IDF1 = 4 / (4 + 2 + 2) = 0.5.
        var truth = Walk(1, 1, 4, x: 0);
        var tracks = Walk(1, 1, 2, x: 0).Concat(Walk(2, 3, 4, x: 0)).ToList();

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((4, 0, 0, 1, 0), (m.TruePositives, m.FalseNegatives, m.FalsePositives, m.IdSwitches, m.Fragmentations));
        Assert.Equal(0.75, m.Mota, 10);
        Assert.Equal((2, 2, 2), (m.IdTruePositives, m.IdFalsePositives, m.IdFalseNegatives));
        Assert.Equal(0.5, m.Idf1, 10);
    }

    [Fact]
    public void Evaluate_TrackInterruptedOneFrame_OneFragmentationNoSwitch()
    {
        // Object A over 5 frames; its track (always id 7) misses frame 3. Object B is tracked throughout (id 9), so
        // frame 3 is scored as a frame with tracker output.
        // CLEAR: TP 4 + 5, FN 1, IDSW 0 (same id after the gap), Frag 1 → MOTA = 1 − 1/10 = 0.9; A matched 4/5 = 80 %,
        // not more than 80 %: partly tracked; B mostly tracked.
        // Identity: IDTP 9, IDFN 1, IDFP 0 → IDF1 = 18 / 19.
        var truth = Walk(1, 1, 5, x: 0).Concat(Walk(2, 1, 5, x: 300)).ToList();
        var tracks = Walk(7, 1, 5, x: 0).Where(b => b.Frame != 3).Concat(Walk(9, 1, 5, x: 300)).ToList();

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((9, 1, 0, 0, 1), (m.TruePositives, m.FalseNegatives, m.FalsePositives, m.IdSwitches, m.Fragmentations));
        Assert.Equal(0.9, m.Mota, 10);
        Assert.Equal(18.0 / 19, m.Idf1, 10);
        Assert.Equal((1, 1, 0), (m.MostlyTracked, m.PartiallyTracked, m.MostlyLost));
    }

    [Fact]
    public void Evaluate_FrameWithoutAnyTrackerBox_SkippedForContinuityAsTrackEvalDoes()
    {
        // TrackEval scores a frame with no tracker boxes at all as misses only and leaves last frame's pairs alone: the
        // same gap as above, with nothing else tracked, is no fragmentation.
        var m = MotEvaluation.Evaluate(Walk(1, 1, 5, x: 0), Walk(7, 1, 5, x: 0).Where(b => b.Frame != 3).ToList());

        Assert.Equal((4, 1, 0, 0), (m.TruePositives, m.FalseNegatives, m.IdSwitches, m.Fragmentations));
    }

    [Fact]
    public void Evaluate_SwitchAfterAGap_CountsBothSwitchAndFragmentation()
    {
        // Object A: frames 1-2 as id 1, frame 3 missed, frames 4-5 as id 2; object B tracked throughout as 9. The
        // switch is judged against A's last match, however old. TP 9, FN 1, IDSW 1, Frag 1 → MOTA = 1 − 2/10 = 0.8.
        // Identity: A↔1 shares 2 frames (IDFN 3), track 2 is left unmapped (IDFP 2), B↔9 is perfect → IDTP 7 →
        // IDF1 = 14 / (14 + 2 + 3).
        var truth = Walk(1, 1, 5, x: 0).Concat(Walk(2, 1, 5, x: 300)).ToList();
        var tracks = Walk(1, 1, 2, x: 0).Concat(Walk(2, 4, 5, x: 0)).Concat(Walk(9, 1, 5, x: 300)).ToList();

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((9, 1, 0, 1, 1), (m.TruePositives, m.FalseNegatives, m.FalsePositives, m.IdSwitches, m.Fragmentations));
        Assert.Equal(0.8, m.Mota, 10);
        Assert.Equal((7, 2, 3), (m.IdTruePositives, m.IdFalsePositives, m.IdFalseNegatives));
        Assert.Equal(14.0 / 19, m.Idf1, 10);
    }

    [Fact]
    public void Evaluate_TwoPeopleCrossAndTheTracksSwap_TwoSwitchesAndIdentityKeepsTheLongerHalves()
    {
        // Objects A (1) and B (2), 6 frames each, apart. Track 10 follows A in frames 1-4 then B in 5-6; track 20
        // follows B in 1-4 then A in 5-6. CLEAR: TP 12, IDSW 2 (both at frame 5) → MOTA = 1 − 2/12.
        // Identity: A↔10 and B↔20 share 4 frames each → IDTP 8, IDFN 4, IDFP 4 → IDF1 = 16 / 24.
        var a = Walk(1, 1, 6, x: 0);
        var b = Walk(2, 1, 6, x: 300);
        var tracks = a.Select(x => x with { Id = x.Frame <= 4 ? 10 : 20 }).Concat(b.Select(x => x with { Id = x.Frame <= 4 ? 20 : 10 })).ToList();

        var m = MotEvaluation.Evaluate([.. a, .. b], tracks);

        Assert.Equal((12, 2, 0), (m.TruePositives, m.IdSwitches, m.Fragmentations));
        Assert.Equal(1 - 2.0 / 12, m.Mota, 10);
        Assert.Equal((8, 4, 4), (m.IdTruePositives, m.IdFalsePositives, m.IdFalseNegatives));
        Assert.Equal(16.0 / 24, m.Idf1, 10);
    }

    [Fact]
    public void Evaluate_OverlapBelowHalfAndAGhost_FalsePositivesAndNegativesAndMotp()
    {
        // 2 frames of one 100×100 object. Frame 1: a box shifted by 20 px (IoU 80·100 / 12000 = 2/3): a match.
        // Frame 2: shifted by 60 px (IoU 4000 / 16000 = 0.25): FN + FP. Plus a ghost box in frame 2 far away: FP.
        // TP 1, FN 1, FP 2 → MOTA = 1 − 3/2 = −0.5; MOTP = 2/3. Object matched in 1 of 2 frames: partly tracked.
        var truth = new List<MotBox> { new(1, 1, 0, 0, 100, 100), new(2, 1, 0, 0, 100, 100) };
        var tracks = new List<MotBox> { new(1, 5, 20, 0, 100, 100), new(2, 5, 60, 0, 100, 100), new(2, 6, 400, 400, 50, 50) };

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((1, 1, 2), (m.TruePositives, m.FalseNegatives, m.FalsePositives));
        Assert.Equal(-0.5, m.Mota, 10);
        Assert.Equal(2.0 / 3, m.Motp, 10);
        Assert.Equal((0, 1, 0), (m.MostlyTracked, m.PartiallyTracked, m.MostlyLost));
    }

    [Fact]
    public void Evaluate_TrackOnIgnoredGroundTruth_NeitherFalsePositiveNorCounted()
    {
        // Ground truth: object 1 (evaluated) and object 2 (conf 0: barely in the frame). The tracker follows both; the
        // boxes on object 2 are removed before scoring, and object 2 is not an object to find.
        var truth = Walk(1, 1, 3, x: 0).Concat(Walk(2, 1, 3, x: 300).Select(b => b with { Confidence = 0 })).ToList();
        var tracks = Walk(1, 1, 3, x: 0).Concat(Walk(9, 1, 3, x: 300)).ToList();

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((3, 3, 3, 0, 0, 1), (m.GroundTruth, m.Hypotheses, m.TruePositives, m.FalseNegatives, m.FalsePositives, m.Objects));
        Assert.Equal(1.0, m.Mota);
    }

    [Fact]
    public void Evaluate_ContinuityWinsOverABetterOverlap_NoSwitch()
    {
        // Frame 1: only track 1, at IoU 0.82. Frame 2: track 2 fits better (0.96), but track 1 still overlaps at
        // IoU ≥ 0.5, so the match stays with track 1: no switch, and track 2 is the one false positive.
        var truth = new List<MotBox> { new(1, 1, 0, 0, 100, 100), new(2, 1, 0, 0, 100, 100) };
        var tracks = new List<MotBox>
        {
            new(1, 1, 10, 0, 100, 100), new(1, 2, 10, 0, 100, 100), new(2, 2, 2, 0, 100, 100),
        };

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((2, 0, 1, 0), (m.TruePositives, m.FalseNegatives, m.FalsePositives, m.IdSwitches));
    }

    [Fact]
    public void Evaluate_MostlyTrackedPartlyMostlyLost_ByShareOfFramesMatched()
    {
        // Three objects of 10 frames: matched in 9 (90 % → mostly tracked), 5 (partly), 1 (10 % → mostly lost).
        var truth = Walk(1, 1, 10, x: 0).Concat(Walk(2, 1, 10, x: 200)).Concat(Walk(3, 1, 10, x: 400)).ToList();
        var tracks = Walk(1, 1, 9, x: 0).Concat(Walk(2, 1, 5, x: 200)).Concat(Walk(3, 1, 1, x: 400)).ToList();

        var m = MotEvaluation.Evaluate(truth, tracks);

        Assert.Equal((1, 1, 1), (m.MostlyTracked, m.PartiallyTracked, m.MostlyLost));
        Assert.Equal(15, m.FalseNegatives);
    }

    [Fact]
    public void Combine_TwoSequences_SumsCountsAndRecomputesRatios()
    {
        var one = MotEvaluation.Evaluate(Walk(1, 1, 4, x: 0), Walk(1, 1, 2, x: 0).Concat(Walk(2, 3, 4, x: 0)).ToList());
        var two = MotEvaluation.Evaluate(Walk(1, 1, 6, x: 0), Walk(1, 1, 6, x: 0));

        var both = MotMetrics.Combine([one, two]);

        Assert.Equal((2, 10, 10, 1), (both.Sequences, both.GroundTruth, both.TruePositives, both.IdSwitches));
        Assert.Equal(0.9, both.Mota, 10);
        // IDTP 2 + 6, IDFP 2, IDFN 2 → 16 / 20.
        Assert.Equal(0.8, both.Idf1, 10);
    }

    [Fact]
    public void ReadWrite_MotChallengeFile_RoundTripsAndRejectsBadRows()
    {
        var folder = Edge.Tests.TestData.NewTempFolder();
        try
        {
            var path = Path.Combine(folder, "gt.txt");
            var rows = new List<MotBox> { new(1, 3, 10.5, 20, 30, 40, 1, 1, 0.75), new(2, 3, 11, 21, 30, 40, 0, 1, 0.2) };
            MotChallengeFile.Write(path, rows);

            Assert.Equal(rows, MotChallengeFile.Read(path));
            Assert.Equal("1,3,10.5,20,30,40,1,1,0.75", File.ReadLines(path).First());

            File.WriteAllText(path, "1,3,10,20,30,40,1,1,1\n2,3,x,20,30,40\n");
            var error = Assert.Throws<TrainingDataException>(() => MotChallengeFile.Read(path));
            Assert.Contains("gt.txt:2: column 3 ('x') is not a number", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>An object standing at <paramref name="x"/> (100×100) from frame <paramref name="first"/> to <paramref name="last"/>.</summary>
    private static List<MotBox> Walk(int id, int first, int last, double x) =>
        [.. Enumerable.Range(first, last - first + 1).Select(f => new MotBox(f, id, x, 0, 100, 100))];
}
