using Edge.Pipeline;
using Edge.Pipeline.Tracking;
using Edge.Pipeline.Zones;
using Edge.Training.Data;
using Edge.Training.Evaluation;
using Edge.Host.Commands;

namespace Edge.Training.Tests.Tracking;

[Collection(SceneCollection.Name)]
public sealed class TrackingHarnessTests(SceneFixture scenes, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Run_JitteredTruthThroughTheTracker_TracksKeepIdentitiesAndLinesCount()
    {
        var report = TrackingHarness.Run(scenes.SceneFolders, scene => new SceneTrackingSystem(scene, new JitteredTruth(scene.Seed).Detect),
            null, null, CancellationToken.None);

        var m = report.Combined;
        Print("jittered truth", report);
        Assert.Equal(3, m.Sequences);
        Assert.True(m.Mota >= 0.8, $"MOTA {m.Mota:0.000}");
        Assert.True(m.Idf1 >= 0.75, $"IDF1 {m.Idf1:0.000}");
        Assert.True(m.Motp >= 0.75, $"MOTP {m.Motp:0.000}");
        Assert.True(report.LineCountAbsoluteError <= 0.15, $"line counts off by {report.LineCountAbsoluteError:P0}");
    }

    [Fact]
    public void Run_TrackerThatForgetsIdentityEveryFrame_Idf1AndSwitchesShowIt()
    {
        // The same boxes with a new id in every frame: detection is as good as before, identity is gone.
        var next = 0;
        var report = TrackingHarness.Run(scenes.SceneFolders, scene =>
        {
            var source = new JitteredTruth(scene.Seed);
            return new Delegating(frame => [.. source.Detect(frame).Where(d => d.Score >= 0.5).Select(d => new MotBox(frame.Frame, ++next, d.Left, d.Top, d.Width, d.Height))]);
        }, null, null, CancellationToken.None);

        var m = report.Combined;
        Print("forgetful", report);
        Assert.True(m.Idf1 < 0.1, $"IDF1 {m.Idf1:0.000}");
        // Every match after an object's first is a switch.
        Assert.True(m.IdSwitches >= m.TruePositives - m.Objects, $"{m.IdSwitches} switches of {m.TruePositives}");
        Assert.True(m.Recall > 0.8, $"recall {m.Recall:0.000}");
    }

    [Fact]
    public void Run_MotionRegionsThroughTheTracker_FindsMostPeopleButLessThanTheTruth()
    {
        var report = TrackingHarness.Run(scenes.SceneFolders, scene =>
        {
            var motion = new MotionDetector(minAreaPx: 600, mergeGapPx: 8);
            return new SceneTrackingSystem(scene, SceneTrackingSystem.MotionBoxes(motion), owned: motion);
        }, null, null, CancellationToken.None);

        var m = report.Combined;
        Print("motion regions", report);
        // Motion merges people who walk together and misses those who stand still; it still finds most of them.
        Assert.True(m.Recall is > 0.3 and < 0.95, $"recall {m.Recall:0.000}");
        Assert.True(m.Precision > 0.5, $"precision {m.Precision:0.000}");
        Assert.True(m.Mota > 0, $"MOTA {m.Mota:0.000}");
    }

    private void Print(string name, TrackingReport report)
    {
        var m = report.Combined;
        output.WriteLine($"{name}: MOTA {m.Mota:0.000} IDF1 {m.Idf1:0.000} MOTP {m.Motp:0.000} FN {m.FalseNegatives} FP {m.FalsePositives} IDSW {m.IdSwitches} Frag {m.Fragmentations} MT/PT/ML {m.MostlyTracked}/{m.PartiallyTracked}/{m.MostlyLost}");
        foreach (var line in report.AllLines)
        {
            output.WriteLine($"  {line.Scene} {line.Line}: {line.LeftToRight}/{line.RightToLeft} (truth {line.TruthLeftToRight}/{line.TruthRightToLeft})");
        }
    }

    private sealed class Delegating(Func<SceneFrame, IReadOnlyList<MotBox>> track) : ISceneTracker
    {
        public IReadOnlyList<MotBox> Track(SceneFrame frame) => track(frame);

        public IReadOnlyList<LineTally> LineCounts() => [];

        public void Dispose()
        {
        }
    }
}
