using Edge.Models;
using Edge.Tests;
using Edge.Training.Data;
using OpenCvSharp;

namespace Edge.Training.Tests;

public sealed class ActivityClipsTests : IDisposable
{
    private static readonly ActivityClips.Options s_small = new() { TrainClipsPerClass = 2, TestClipsPerClass = 1, Frames = 12, Seed = 5 };
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Create_SameSeedTwice_SameDecodableClipsInClassFoldersWithMatchingMetadata()
    {
        var first = Path.Combine(_folder, "a");
        var second = Path.Combine(_folder, "b");
        var metadata = ActivityClips.Create(TestData.Vtest, first, s_small, null, CancellationToken.None);
        ActivityClips.Create(TestData.Vtest, second, s_small, null, CancellationToken.None);

        Assert.Equal(ActivityClips.Classes, metadata.Labels);
        Assert.Equal(15, metadata.Clips.Length);
        var written = Directory.EnumerateFiles(first, "*.avi", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(first, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(metadata.Clips.Select(c => c.File).Order(StringComparer.Ordinal), written);
        Assert.False(Directory.Exists(Path.Combine(first, ".incomplete")));
        var loaded = ActivityClips.Metadata.Load(Path.Combine(first, ActivityClips.MetadataFile));
        Assert.Equal(metadata.Clips, loaded.Clips);
        foreach (var clip in metadata.Clips)
        {
            // The folder names the class: edge train sequence and edge eval activity read labels from it.
            Assert.Equal(Path.Combine(clip.Split, clip.Label, Path.GetFileName(clip.File)), clip.File);
            Assert.Equal(File.ReadAllBytes(Path.Combine(first, clip.File)), File.ReadAllBytes(Path.Combine(second, clip.File)));
            using var capture = new VideoCapture(Path.Combine(first, clip.File));
            using var frame = new Mat();
            var frames = 0;
            while (capture.Read(frame))
            {
                Assert.Equal((320, 240), (frame.Width, frame.Height));
                frames++;
            }
            Assert.Equal(12, frames);
        }
        Assert.Equal([2, 1], metadata.Clips.GroupBy(c => c.Split).Select(g => g.Count() / ActivityClips.Classes.Length));
        Assert.All(metadata.Clips.Where(c => c.Label == "fall"), c => Assert.InRange(c.FallStartFrame!.Value, 2, 5));
        // Walk and run differ in cycle rate and ground speed, not in pose.
        var walk = metadata.Clips.Where(c => c.Label == "walk").ToList();
        var run = metadata.Clips.Where(c => c.Label == "run").ToList();
        Assert.True(walk.Min(c => c.CyclePeriodFrames) > run.Max(c => c.CyclePeriodFrames) * 1.5);
        Assert.True(walk.Max(c => c.SpeedPxPerFrame) < run.Min(c => c.SpeedPxPerFrame));

        var other = Path.Combine(_folder, "c");
        var reseeded = ActivityClips.Create(TestData.Vtest, other, s_small with { Seed = 6 }, null, CancellationToken.None);
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(first, metadata.Clips[0].File)), File.ReadAllBytes(Path.Combine(other, reseeded.Clips[0].File)));
    }

    [Fact]
    public void Create_StandAndWave_OnlyWaveMoves()
    {
        // The camera holds still: stand clips change only by JPEG noise (about 0.2 grey levels), wave clips change
        // where the forearm swings. (How much walking and running change the picture depends as much on the figure's
        // size and colours as on the gait, so their rates are checked in the metadata.)
        var options = s_small with { TrainClipsPerClass = 3 };
        var metadata = ActivityClips.Create(TestData.Vtest, _folder, options, null, CancellationToken.None);
        double Motion(string label) => metadata.Clips.Where(c => c.Label == label && c.Split == "train").Average(c => MeanFrameDifference(Path.Combine(_folder, c.File)));
        Assert.True(Motion("stand") < 0.35, $"stand {Motion("stand"):0.00}");
        Assert.True(Motion("wave") > 1.5 * Motion("stand"), $"wave {Motion("wave"):0.00}, stand {Motion("stand"):0.00}");
    }

    [Fact]
    public void Create_CancelledMidway_LeavesTheEarlierOutputAsItWas()
    {
        ActivityClips.Create(TestData.Vtest, _folder, s_small, null, CancellationToken.None);
        var before = Snapshot(_folder);
        using var cancel = new CancellationTokenSource();
        var progress = new Inline<(int Done, int Total)>(_ => cancel.Cancel());

        Assert.ThrowsAny<OperationCanceledException>(() => ActivityClips.Create(TestData.Vtest, _folder, s_small with { Seed = 9 }, progress, cancel.Token));

        Assert.Equal(before, Snapshot(_folder));
    }

    [Fact]
    public void Create_FootageThatCannotBeDecoded_ClearErrorAndNothingWritten()
    {
        var bogus = Path.Combine(_folder, "bogus.avi");
        File.WriteAllBytes(bogus, new byte[4096]);
        var output = Path.Combine(_folder, "out");

        var error = Assert.Throws<TrainingDataException>(() => ActivityClips.Create(bogus, output, s_small, null, CancellationToken.None));

        Assert.Contains("cannot decode", error.Message, StringComparison.Ordinal);
        Assert.False(Directory.Exists(output) && Directory.EnumerateFileSystemEntries(output).Any());
    }

    private static double MeanFrameDifference(string clip)
    {
        using var capture = new VideoCapture(clip);
        using var previous = new Mat();
        using var frame = new Mat();
        using var difference = new Mat();
        var sum = 0.0;
        var count = 0;
        capture.Read(previous);
        while (capture.Read(frame))
        {
            Cv2.Absdiff(frame, previous, difference);
            sum += Cv2.Mean(difference).Val0;
            count++;
            frame.CopyTo(previous);
        }
        return sum / count;
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
