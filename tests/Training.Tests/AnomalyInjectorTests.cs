using Edge.Tests;
using Edge.Training.Data;
using OpenCvSharp;

namespace Edge.Training.Tests;

public sealed class AnomalyInjectorTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Create_Vtest_SplitsInjectsAndWritesMatchingGroundTruth()
    {
        var truth = AnomalyInjector.Create(TestData.Vtest, TestData.Cup, _folder, trainFrames: 400);

        Assert.Equal(395, truth.Frames);
        Assert.Equal(AnomalyInjector.Kinds, truth.Anomalies.Select(a => a.Kind));
        Assert.All(truth.Anomalies, a => Assert.Equal(14, a.EndFrame - a.StartFrame));
        var loaded = AnomalyInjector.GroundTruth.Load(Path.Combine(_folder, "vtest-test.gt.json"));
        Assert.Equal((truth.Video, truth.Frames, truth.Fps), (loaded.Video, loaded.Frames, loaded.Fps));
        Assert.Equal(truth.Anomalies, loaded.Anomalies);
        Assert.Equal(400, Count(Path.Combine(_folder, "vtest-train.avi")));

        var test = Frames(Path.Combine(_folder, "vtest-test.avi"));
        Assert.Equal(395, test.Count);
        var brightness = test.Select(f => Cv2.Mean(f).Val0 + Cv2.Mean(f).Val1 + Cv2.Mean(f).Val2).ToArray();
        var byKind = truth.Anomalies.ToDictionary(a => a.Kind);
        // Freeze: every frame of the span decodes the same.
        var freeze = byKind["freeze"];
        using (var difference = new Mat())
        {
            Cv2.Absdiff(test[freeze.StartFrame], test[freeze.EndFrame], difference);
            Assert.Equal(0, Cv2.CountNonZero(difference.Reshape(1)));
        }
        // Darkness: far darker than the frames around it.
        var dark = byKind["darkness"];
        Assert.True(brightness[dark.StartFrame + 5] < 0.3 * brightness[dark.StartFrame - 5]);
        // Occlusion: the middle quarter is black.
        var occluded = test[byKind["occlusion"].StartFrame + 3];
        using (var middle = new Mat(occluded, new Rect(768 / 4 + 10, 576 / 4 + 10, 768 / 2 - 20, 576 / 2 - 20)))
        {
            Assert.True(Cv2.Mean(middle).Val0 < 5);
        }
        // Outside the spans the test video is the source footage (frame 400 + i), up to JPEG noise.
        using var source = new VideoCapture(TestData.Vtest);
        source.Set(VideoCaptureProperties.PosFrames, 400);
        using var original = new Mat();
        Assert.True(source.Read(original));
        using var diff = new Mat();
        Cv2.Absdiff(original, test[0], diff);
        Assert.True(Cv2.Mean(diff).Val0 < 4);
        test.ForEach(f => f.Dispose());
    }

    private static int Count(string path)
    {
        var frames = Frames(path);
        frames.ForEach(f => f.Dispose());
        return frames.Count;
    }

    private static List<Mat> Frames(string path)
    {
        using var capture = new VideoCapture(path);
        var frames = new List<Mat>();
        var frame = new Mat();
        while (capture.Read(frame))
        {
            frames.Add(frame);
            frame = new Mat();
        }
        frame.Dispose();
        return frames;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}

public sealed class AnomalySuiteTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void KindsForSeed_CoversEveryKindEquallyOverConsecutiveSeeds()
    {
        var kinds = Enumerable.Range(0, 5).SelectMany(s => AnomalyInjector.KindsForSeed(s, 4)).ToList();
        Assert.Equal(AnomalyInjector.SuiteKinds.Select(k => k.Kind).Order(), kinds.Order());
        Assert.Equal(3, AnomalyInjector.SuiteKinds.Select(k => k.Family).Distinct().Count());
        Assert.True(AnomalyInjector.SuiteKinds.Count >= 12);
        Assert.All(AnomalyInjector.UnseenKinds, k => Assert.Contains(k, AnomalyInjector.SuiteKinds.Select(s => s.Kind)));
    }

    [Fact]
    public void CreateSuite_Vtest_IsReproducibleAndRecordsFamiliesStrengthsAndBoxes()
    {
        // Seed 2: blur, shake, small-object, intruder (two spatial kinds with boxes).
        var truth = AnomalyInjector.CreateSuite(TestData.Vtest, TestData.Cup, _folder, trainFrames: 400, seed: 2);
        Assert.Equal(395, truth.Frames);
        Assert.Equal(AnomalyInjector.KindsForSeed(2, 4), truth.Anomalies.Select(a => a.Kind));
        Assert.All(truth.Anomalies, a => Assert.Equal(AnomalyInjector.FamilyOf(a.Kind), a.Family));
        Assert.All(truth.Anomalies, a => Assert.InRange(a.EndFrame - a.StartFrame + 1, 10, 25));
        Assert.All(truth.Anomalies.Zip(truth.Anomalies.Skip(1)), p => Assert.True(p.Second.StartFrame - p.First.EndFrame > 55));
        foreach (var a in truth.Anomalies.Where(a => a.Family == AnomalyInjector.SpatialFamily))
        {
            Assert.Equal(a.EndFrame - a.StartFrame + 1, a.Regions!.Length);
            Assert.All(a.Regions, r => Assert.True(r.Width > 0 && r.Height > 0 && r.X >= 0 && r.Y >= 0 && r.X + r.Width <= 768 && r.Y + r.Height <= 576));
        }
        var loaded = AnomalyInjector.GroundTruth.Load(Path.Combine(_folder, "vtest-s2-test.gt.json"));
        Assert.Equal(truth.Anomalies.Select(a => (a.Kind, a.StartFrame, a.Family, a.Strength, a.Regions?.Length)),
            loaded.Anomalies.Select(a => (a.Kind, a.StartFrame, a.Family, a.Strength, a.Regions?.Length)));
        // The same seed gives the same ground truth.
        var again = AnomalyInjector.CreateSuite(TestData.Vtest, TestData.Cup, Path.Combine(_folder, "again"), trainFrames: 400, seed: 2);
        Assert.Equal(truth.Anomalies.Select(a => (a.StartFrame, a.EndFrame, a.Strength)), again.Anomalies.Select(a => (a.StartFrame, a.EndFrame, a.Strength)));
        // Ground truth written before families existed still loads.
        var old = Path.Combine(_folder, "old.gt.json");
        File.WriteAllText(old, """{"video":"v.avi","frames":10,"fps":10,"anomalies":[{"kind":"freeze","startFrame":2,"endFrame":4}]}""");
        var oldTruth = AnomalyInjector.GroundTruth.Load(old);
        Assert.Null(oldTruth.Anomalies[0].Family);
        Assert.True(oldTruth.IsAnomalous(3));
    }

    [Fact]
    public void CreateSuite_LocalKinds_ChangeThePictureInsideTheirBoxes()
    {
        // Seed 4: foreign-object, counter-flow, contrast-loss, darkness. Counter-flow's box once stayed where a person
        // had been while the footage it played showed an empty lawn: labelled anomalous, nothing to see.
        var truth = AnomalyInjector.CreateSuite(TestData.Vtest, TestData.Cup, _folder, trainFrames: 400, seed: 4);
        var boxed = truth.Anomalies.Where(a => a.Regions is not null).SelectMany(a => a.Regions!).Select(r => r.Frame).ToHashSet();
        var test = Frames(Path.Combine(_folder, "vtest-s4-test.avi"), 0, boxed);
        var source = Frames(TestData.Vtest, 400, boxed);
        try
        {
            foreach (var a in truth.Anomalies.Where(a => a.Regions is not null))
            {
                var changes = a.Regions!.Select(r =>
                {
                    using var injected = new Mat(test[r.Frame], r.ToRect());
                    using var original = new Mat(source[r.Frame], r.ToRect());
                    using var difference = new Mat();
                    Cv2.Absdiff(injected, original, difference);
                    var mean = Cv2.Mean(difference);
                    return (mean.Val0 + mean.Val1 + mean.Val2) / 3;
                }).Order().ToArray();
                Assert.True(changes[changes.Length / 2] > 12, $"{a.Kind}: median change inside its boxes {changes[changes.Length / 2]:F1} grey levels");
            }
            Assert.Contains(truth.Anomalies, a => a.Kind == "counter-flow");
        }
        finally
        {
            test.Values.ToList().ForEach(f => f.Dispose());
            source.Values.ToList().ForEach(f => f.Dispose());
        }
    }

    /// <summary>The frames at <paramref name="wanted"/> (counted from <paramref name="first"/>) of a video.</summary>
    private static Dictionary<int, Mat> Frames(string path, int first, HashSet<int> wanted)
    {
        using var capture = new VideoCapture(path);
        var frames = new Dictionary<int, Mat>();
        using var frame = new Mat();
        for (var i = -first; capture.Read(frame); i++)
        {
            if (wanted.Contains(i))
            {
                frames[i] = frame.Clone();
            }
        }
        return frames;
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
