using Edge.Models;
using Edge.Tests;
using Edge.Training.Data;
using OpenCvSharp;

namespace Edge.Training.Tests.Tracking;

[Collection(SceneCollection.Name)]
public sealed class MultiPersonScenesTests(SceneFixture scenes) : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Create_SameSeedTwice_ByteIdenticalScenesWithConsistentGroundTruth()
    {
        var again = MultiPersonScenes.Create(TestData.Vtest, _folder, SceneFixture.Options, null, CancellationToken.None);

        Assert.Equal(scenes.Metadata.TrainScenes, again.TrainScenes);
        Assert.Equal([Path.Combine("test", "scene-000"), Path.Combine("test", "scene-001")], again.TestScenes);
        Assert.False(Directory.Exists(Path.Combine(_folder, ".incomplete")));
        foreach (var relative in again.TrainScenes.Concat(again.TestScenes))
        {
            foreach (var file in new[] { MultiPersonScenes.VideoFile, MultiPersonScenes.GroundTruthFile, MultiPersonScenes.SceneFile, "seqinfo.ini" })
            {
                Assert.Equal(File.ReadAllBytes(Path.Combine(scenes.Folder, relative, file)), File.ReadAllBytes(Path.Combine(_folder, relative, file)));
            }
            var folder = Path.Combine(_folder, relative);
            var scene = MultiPersonScenes.Scene.Load(Path.Combine(folder, MultiPersonScenes.SceneFile));
            var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile));

            Assert.InRange(scene.People.Length, SceneFixture.Options.MinPeople, SceneFixture.Options.MaxPeople);
            Assert.All(truth, b =>
            {
                Assert.InRange(b.Frame, 1, scene.Frames);
                Assert.True(b.Left >= 0 && b.Top >= 0 && b.Right <= scene.Width && b.Bottom <= scene.Height && b.Width > 0 && b.Height > 0);
                Assert.InRange(b.Visibility, 0, 1);
                Assert.Contains(b.Confidence, new[] { 0.0, 1.0 });
            });
            Assert.Equal(truth.Count, truth.Select(b => (b.Frame, b.Id)).Distinct().Count());
            foreach (var person in scene.People)
            {
                var frames = truth.Where(b => b.Id == person.Id).Select(b => b.Frame).ToList();
                Assert.Equal((frames.Min(), frames.Max()), (person.FirstFrame, person.LastFrame));
                // Activities cover the person's frames without gaps, each a known activity.
                Assert.Equal(person.FirstFrame, person.Activities[0].FirstFrame);
                Assert.Equal(person.LastFrame, person.Activities[^1].LastFrame);
                Assert.All(person.Activities.Zip(person.Activities.Skip(1)), p => Assert.Equal(p.First.LastFrame + 1, p.Second.FirstFrame));
                Assert.All(person.Activities, a => Assert.Contains(a.Activity, MultiPersonScenes.Activities));
            }
            Assert.Equal(truth.Select(b => b.Id).Distinct().Order(), scene.People.Select(p => p.Id).Order());
            // The stored counts are the ground truth's own crossings and entries.
            var tracks = truth.GroupBy(b => b.Id).Select(g => (IReadOnlyList<MotBox>)[.. g.OrderBy(b => b.Frame)]).ToList();
            Assert.All(scene.Lines, l => Assert.Equal(l, MultiPersonScenes.CountCrossings(l with { LeftToRight = -1, RightToLeft = -1 }, tracks)));
            Assert.All(scene.Zones, z => Assert.Equal(z.Entries, MultiPersonScenes.CountEntries(z, tracks)));
            Assert.Equal(["door", "short"], scene.Lines.Select(l => l.Name));
        }
        // Training and test scenes have their backgrounds from disjoint parts of the footage.
        var train = again.TrainScenes.Select(s => MultiPersonScenes.Scene.Load(Path.Combine(_folder, s, MultiPersonScenes.SceneFile)).BackgroundFrame);
        var test = again.TestScenes.Select(s => MultiPersonScenes.Scene.Load(Path.Combine(_folder, s, MultiPersonScenes.SceneFile)).BackgroundFrame);
        Assert.True(train.Max() < 596 && test.Min() >= 596, $"train {string.Join(",", train)}, test {string.Join(",", test)}");
    }

    [Fact]
    public void Create_ScenesOverall_PeopleCrossOccludeWalkTogetherAndDoEveryActivity()
    {
        var all = scenes.SceneFolders.Select(f => (Scene: MultiPersonScenes.Scene.Load(Path.Combine(f, MultiPersonScenes.SceneFile)),
            Truth: MotChallengeFile.Read(Path.Combine(f, MultiPersonScenes.GroundTruthFile)))).ToList();

        var activities = all.SelectMany(s => s.Scene.People.SelectMany(p => p.Activities.Select(a => a.Activity))).ToHashSet();
        Assert.Superset(new HashSet<string>(["walk", "stand"]), activities);
        Assert.Contains(all, s => s.Truth.Any(b => b.Evaluated && b.Visibility < 0.5));
        Assert.Contains(all, s => s.Truth.Any(b => b.Confidence == 0));
        Assert.True(all.Sum(s => s.Scene.Lines[0].LeftToRight + s.Scene.Lines[0].RightToLeft) >= 3);
    }

    [Fact]
    public void Create_PixelsThatChange_LieInsideTheGroundTruthBoxes()
    {
        // Between consecutive frames only people move (the backdrop is a still), so every pixel that changes clearly
        // must be inside a person's box in one of the two frames (2 px of anti-aliasing allowed).
        var folder = scenes.SceneFolders.First();
        var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile)).ToLookup(b => b.Frame);
        using var capture = new VideoCapture(Path.Combine(folder, MultiPersonScenes.VideoFile));
        using var previous = new Mat();
        using var frame = new Mat();
        using var difference = new Mat();
        using var grey = new Mat();
        using var changed = new Mat();
        using var covered = new Mat();
        long inside = 0, total = 0;
        capture.Read(previous);
        for (var f = 2; capture.Read(frame); f++)
        {
            Cv2.Absdiff(frame, previous, difference);
            Cv2.CvtColor(difference, grey, ColorConversionCodes.BGR2GRAY);
            Cv2.Threshold(grey, changed, 40, 255, ThresholdTypes.Binary);
            covered.Create(frame.Size(), MatType.CV_8UC1);
            covered.SetTo(Scalar.Black);
            foreach (var b in truth[f].Concat(truth[f - 1]))
            {
                Cv2.Rectangle(covered, new Rect((int)b.Left - 2, (int)b.Top - 2, (int)b.Width + 4, (int)b.Height + 4), Scalar.White, -1);
            }
            total += Cv2.CountNonZero(changed);
            Cv2.BitwiseAnd(changed, covered, changed);
            inside += Cv2.CountNonZero(changed);
            frame.CopyTo(previous);
        }
        Assert.True(total > 1000, $"only {total} pixels changed");
        Assert.True(inside >= 0.99 * total, $"{inside} of {total} changed pixels inside boxes");
    }

    [Fact]
    public void Create_CancelledMidway_LeavesTheEarlierOutputAsItWas()
    {
        var small = SceneFixture.Options with { TrainScenes = 1, TestScenes = 1, Frames = 40 };
        MultiPersonScenes.Create(TestData.Vtest, _folder, small, null, CancellationToken.None);
        var before = Snapshot(_folder);
        using var cancel = new CancellationTokenSource();
        var progress = new Inline<(int Done, int Total)>(_ => cancel.Cancel());

        Assert.ThrowsAny<OperationCanceledException>(() => MultiPersonScenes.Create(TestData.Vtest, _folder, small with { Seed = 9, TrainScenes = 3 }, progress, cancel.Token));

        Assert.Equal(before, Snapshot(_folder));
    }

    [Fact]
    public void Create_FootageThatCannotBeDecoded_ClearErrorAndNothingWritten()
    {
        var bogus = Path.Combine(_folder, "bogus.avi");
        File.WriteAllBytes(bogus, new byte[4096]);
        var output = Path.Combine(_folder, "out");

        var error = Assert.Throws<TrainingDataException>(() => MultiPersonScenes.Create(bogus, output, SceneFixture.Options, null, CancellationToken.None));

        Assert.Contains("cannot decode", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output));
    }

    private static Dictionary<string, string> Snapshot(string folder) =>
        Directory.EnumerateFileSystemEntries(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(f => Path.GetRelativePath(folder, f), f => File.Exists(f) ? Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(f))) : "dir");

    private sealed class Inline<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
