using Edge.Models;
using Edge.Tests;
using Edge.Training.Data;

namespace Edge.Training.Tests.Tracking;

[Collection(SceneCollection.Name)]
public sealed class TrackWindowsTests(SceneFixture scenes) : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Windows_PersonHiddenOrChangingActivity_NoWindowThere()
    {
        var folder = scenes.SceneFolders.First();
        var scene = MultiPersonScenes.Scene.Load(Path.Combine(folder, MultiPersonScenes.SceneFile));
        var truth = MotChallengeFile.Read(Path.Combine(folder, MultiPersonScenes.GroundTruthFile));
        var options = new TrackWindows.Options();

        var windows = TrackWindows.Windows(scene, truth, options);
        // The same person fully hidden for the whole scene: none of their windows is left.
        var hidden = windows[0].Person.Id;
        var hiddenTruth = truth.Select(b => b.Id == hidden ? b with { Visibility = 0.1 } : b).ToList();

        Assert.DoesNotContain(TrackWindows.Windows(scene, hiddenTruth, options), w => w.Person.Id == hidden);
        Assert.NotEmpty(windows);
        foreach (var (person, first, label, visibility) in windows)
        {
            // One activity over the whole window, or a fall whose onset is at its frame 2-5.
            var activities = Enumerable.Range(first, options.Frames).Select(person.ActivityAt).ToList();
            if (label == "fall")
            {
                Assert.InRange(activities.IndexOf("fall"), 2, 5);
            }
            else
            {
                Assert.All(activities, a => Assert.Equal(label, a));
            }
            Assert.True(visibility >= options.MinVisibility);
        }
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
