using Edge.Tests;
using Edge.Training.Evaluation;
using OpenCvSharp;

namespace Edge.Training.Tests;

public sealed class EvaluationTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    public static TheoryData<double[], bool[], double> RocCases => new()
    {
        { [0.9, 0.8, 0.3, 0.1], [true, true, false, false], 1.0 },
        { [0.1, 0.3, 0.8, 0.9], [true, true, false, false], 0.0 },
        { [0.5, 0.5, 0.5, 0.5], [true, false, true, false], 0.5 },
        // One negative (0.7) outranks one of two positives: 3 of 4 positive–negative pairs are ordered right.
        { [0.9, 0.7, 0.6, 0.2], [true, false, true, false], 0.75 },
    };

    [Theory]
    [MemberData(nameof(RocCases))]
    public void Roc_KnownScores_AucIsThePairwiseOrderingRate(double[] scores, bool[] positive, double expected)
    {
        var (fpr, tpr, auc) = Metrics.Roc(scores, positive);
        Assert.Equal(expected, auc, 10);
        Assert.Equal((0.0, 0.0), (fpr[0], tpr[0]));
        Assert.Equal((1.0, 1.0), (fpr[^1], tpr[^1]));
    }

    [Fact]
    public void AnomalyEvaluation_OneEventOverTheWholeVideo_FindsEverythingButCoversAllNormalTime()
    {
        // 100 frames at 10 fps, two injections (20-29, 60-69); scores 2 on them and 0 elsewhere.
        var truth = new Edge.Training.Data.AnomalyInjector.GroundTruth("v.avi", 100, 10,
            [new("freeze", 20, 29, "temporal"), new("blur", 60, 69, "appearance")]);
        var video = new AnomalyEvaluation.Video("v.avi", [], null, 100, truth);
        var scores = new AnomalyEvaluation.VideoScores([.. Enumerable.Range(0, 100).Select(t => truth.At(t) is null ? 0.0 : 2.0)], null);

        var tight = AnomalyEvaluation.Evaluate("tight", [video], [scores], (_, _) => [(20, 29), (60, 69), (85, 88)]);
        Assert.Equal(1.0, tight.FrameAuc, 10);
        Assert.Equal((3, 2 / 3.0, 1.0), (tight.Events, tight.EventPrecision, tight.EventRecall));
        Assert.Equal(4 / 80.0, tight.NormalInEvents, 10);
        // One false event over the 80 normal frames (8 s).
        Assert.Equal(3600 / 8.0, tight.FalseAlarmsPerHour!.Value, 6);

        var merged = AnomalyEvaluation.Evaluate("merged", [video], [scores], (_, _) => [(0, 99)]);
        Assert.Equal((1, 1.0, 1.0), (merged.Events, merged.EventPrecision, merged.EventRecall));
        Assert.Equal(1.0, merged.NormalInEvents, 10);
    }

    [Fact]
    public void AnomalyEvaluation_AKindInjectedIntoABusyStretch_GainsFromTheStretchButNotInContext()
    {
        // 200 frames at 10 fps: normal frames score 0 in the first half and 3 in the busier second half. The
        // left object (150-159) scores 3 too: it gains only from where it was put. The blur (30-39) stands out.
        var truth = new Edge.Training.Data.AnomalyInjector.GroundTruth("v.avi", 200, 10,
            [new("blur", 30, 39, "appearance"), new("left-object", 150, 159, "spatial")]);
        var video = new AnomalyEvaluation.Video("v.avi", [], null, 200, truth);
        var scores = new AnomalyEvaluation.VideoScores([.. Enumerable.Range(0, 200).Select(t => truth.At(t)?.Kind == "blur" ? 5.0 : t < 100 ? 0 : 3)], null);

        var report = AnomalyEvaluation.Evaluate("m", [video], [scores], (_, _) => []);
        var blur = report.Kinds.Single(k => k.Kind == "blur");
        var left = report.Kinds.Single(k => k.Kind == "left-object");
        Assert.Equal((1.0, 1.0), (blur.Auc, blur.ContextAuc));
        // Against all 180 normal frames it outranks the 90 of the quiet half and ties the 90 of the busy one.
        Assert.Equal((90 + 0.5 * 90) / 180.0, left.Auc, 10);
        // Its context (110-149 and 160-199) is all busy: no better than chance.
        Assert.Equal(0.5, left.ContextAuc, 10);
        Assert.Equal(0.75, report.MeanContextAuc, 10);
    }

    [Fact]
    public void Roc_OneClassOnly_IsRejected() =>
        Assert.Throws<ArgumentException>(() => Metrics.Roc([0.1, 0.2], [true, true]));

    [Fact]
    public void ConfusionMatrix_CountsAndAccuracy()
    {
        var confusion = Metrics.ConfusionMatrix([0, 0, 1, 1, 2], [0, 1, 1, 1, 0], 3);
        Assert.Equal(1, confusion[0, 0]);
        Assert.Equal(1, confusion[0, 1]);
        Assert.Equal(2, confusion[1, 1]);
        Assert.Equal(1, confusion[2, 0]);
        Assert.Equal(0.6, Metrics.Accuracy(confusion), 10);
    }

    [Fact]
    public void Plots_AreWrittenAsPngsThatDecode()
    {
        var loss = Path.Combine(_folder, "loss.png");
        var confusion = Path.Combine(_folder, "confusion.png");
        var roc = Path.Combine(_folder, "roc.png");
        Plots.LossCurves([new EpochReport(1, 1.0, 0.9, 0.5, TimeSpan.FromSeconds(1), true), new EpochReport(2, 0.5, 0.6, 0.7, TimeSpan.FromSeconds(2), true)], loss, "loss");
        Plots.ConfusionMatrix(new[,] { { 5, 1 }, { 2, 7 } }, ["a", "b"], confusion, "confusion");
        var (fpr, tpr, auc) = Metrics.Roc([0.9, 0.7, 0.6, 0.2], [true, false, true, false]);
        Plots.Roc(fpr, tpr, auc, roc, "roc");
        foreach (var (path, width) in new[] { (loss, 640), (confusion, 360), (roc, 480) })
        {
            using var image = Cv2.ImRead(path);
            Assert.False(image.Empty(), path);
            Assert.Equal(width, image.Width);
            Assert.True(Cv2.Mean(image).Val0 > 100, "a plot on a light background");
        }
        Assert.Empty(Directory.GetFiles(_folder, "*.tmp.png"));
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
