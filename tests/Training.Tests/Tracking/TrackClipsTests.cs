using Edge.Models;
using Edge.Tests;
using Edge.Training.Data;
using OpenCvSharp;

namespace Edge.Training.Tests.Tracking;

[Collection(SceneCollection.Name)]
public sealed class TrackClipsTests(SceneFixture scenes) : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Create_FromScenes_ClipsFollowOnePersonDoingOneThingInClassFolders()
    {
        var options = new TrackClips.Options { Frames = 12, Stride = 6, Size = 96 };

        var metadata = TrackClips.Create(scenes.Folder, _folder, options, null, CancellationToken.None);

        Assert.NotEmpty(metadata.Clips);
        Assert.Equal(MultiPersonScenes.Activities, metadata.Labels);
        var written = Directory.EnumerateFiles(_folder, "*.avi", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(_folder, f)).Order(StringComparer.Ordinal);
        Assert.Equal(metadata.Clips.Select(c => c.File).Order(StringComparer.Ordinal), written);
        Assert.Equal(metadata.Clips, TrackClips.Metadata.Load(Path.Combine(_folder, TrackClips.MetadataFile)).Clips);
        var loaded = scenes.SceneFolders.Select(f => MultiPersonScenes.Scene.Load(Path.Combine(f, MultiPersonScenes.SceneFile))).ToDictionary(s => (s.Split, s.Name));
        foreach (var clip in metadata.Clips)
        {
            // train/<class>/..., the layout edge train sequence reads its labels from.
            Assert.Equal(Path.Combine(clip.Split, clip.Label, Path.GetFileName(clip.File)), clip.File);
            var person = loaded[(clip.Split, clip.Scene)].People.Single(p => p.Id == clip.PersonId);
            var activities = Enumerable.Range(clip.FirstFrame, clip.Frames).Select(person.ActivityAt).ToList();
            if (clip.Label == "fall")
            {
                Assert.InRange(activities.IndexOf("fall"), 2, 5);
            }
            else
            {
                Assert.All(activities, a => Assert.Equal(clip.Label, a));
            }
            Assert.True(clip.MeanVisibility >= options.MinVisibility);
            using var capture = new VideoCapture(Path.Combine(_folder, clip.File));
            using var frame = new Mat();
            var frames = 0;
            while (capture.Read(frame))
            {
                Assert.Equal((96, 96), (frame.Width, frame.Height));
                frames++;
            }
            Assert.Equal(12, frames);
        }
        Assert.Contains(metadata.Clips, c => c.Split == "train");
        Assert.Contains(metadata.Clips, c => c.Split == "test");
    }

    [Fact]
    public void Windows_PersonHiddenOrChangingActivity_NoWindowThere()
    {
        var folder = scenes.SceneFolders.First();
        var scene = MultiPersonScenes.Scene.Load(Path.Combine(folder, MultiPersonScenes.SceneFile));
        var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile));
        var options = new TrackClips.Options();

        var windows = TrackClips.Windows(scene, truth, options);
        // The same person fully hidden for the whole scene: none of their windows is left.
        var hidden = windows[0].Person.Id;
        var hiddenTruth = truth.Select(b => b.Id == hidden ? b with { Visibility = 0.1 } : b).ToList();

        Assert.DoesNotContain(TrackClips.Windows(scene, hiddenTruth, options), w => w.Person.Id == hidden);
        Assert.All(windows, w => Assert.True(w.Label == "fall" || w.Person.ActivityAt(w.FirstFrame) == w.Person.ActivityAt(w.FirstFrame + options.Frames - 1)));
    }

    [Fact]
    public void Create_NoScenesThere_ClearError()
    {
        var error = Assert.Throws<TrainingDataException>(() => TrackClips.Create(_folder, Path.Combine(_folder, "clips"), new TrackClips.Options(), null, CancellationToken.None));

        Assert.Contains("scenes.json not found", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
