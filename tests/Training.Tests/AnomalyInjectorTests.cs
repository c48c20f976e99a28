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
