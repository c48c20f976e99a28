using Edge.Models;
using System.Diagnostics;
using Edge.Training.Data;
using OpenCvSharp;

namespace Edge.Training.Evaluation;

/// <summary>
/// One frame of a scene as a tracking system under evaluation sees it: the decoded picture (valid only during the
/// call), its 1-based number and time, and the ground truth (for box sources that start from it; a system that
/// only looks at the picture ignores it).
/// </summary>
public sealed record SceneFrame(int Frame, double TimestampMs, Mat Image, IReadOnlyList<MotBox> Truth);

/// <summary>A line's crossings per direction as a system counted them.</summary>
public sealed record LineTally(string Name, long LeftToRight, long RightToLeft);

/// <summary>A zone's entries as a system counted them.</summary>
public sealed record ZoneTally(string Name, long Entries);

/// <summary>
/// A tracking system run over one scene (a box source, a tracker and a line counter): made fresh for each scene,
/// fed every frame in order, asked for its line counts at the end, then disposed.
/// </summary>
public interface ISceneTracker : IDisposable
{
    /// <summary>The tracked boxes of this frame, in MOTChallenge layout (Frame = <see cref="SceneFrame.Frame"/>, Id = track id).</summary>
    IReadOnlyList<MotBox> Track(SceneFrame frame);

    /// <summary>Crossings per line of the scene, after the last frame.</summary>
    IReadOnlyList<LineTally> LineCounts();

    /// <summary>Entries per zone of the scene, after the last frame; none when the system does not judge zones.</summary>
    IReadOnlyList<ZoneTally> ZoneEntries() => [];
}

/// <summary>A line's counts in one scene: ground truth against the system's.</summary>
public sealed record LineComparison(string Scene, string Line, int TruthLeftToRight, int TruthRightToLeft, long LeftToRight, long RightToLeft)
{
    public int TruthTotal => TruthLeftToRight + TruthRightToLeft;

    public long Total => LeftToRight + RightToLeft;
}

/// <summary>A zone's entries in one scene: ground truth against the system's (null when it judged no zones).</summary>
public sealed record ZoneComparison(string Scene, string Zone, int TruthEntries, long? Entries);

/// <summary>One scene's result.</summary>
/// <param name="MsPerFrame">Wall time of <see cref="ISceneTracker.Track"/> per frame (box source included).</param>
public sealed record SceneResult(string Scene, MotMetrics Metrics, IReadOnlyList<LineComparison> Lines, IReadOnlyList<ZoneComparison> Zones, double MsPerFrame);

/// <summary>Results per scene and combined (MOTChallenge's sums), with line counts summed per line and direction.</summary>
public sealed record TrackingReport(IReadOnlyList<SceneResult> Scenes, MotMetrics Combined)
{
    public IEnumerable<LineComparison> AllLines => Scenes.SelectMany(s => s.Lines);

    /// <summary>(Σ counted − Σ true) / Σ true over every scene, line and direction: the bias of the totals.</summary>
    public double LineCountError
    {
        get
        {
            var truth = AllLines.Sum(l => (long)l.TruthTotal);
            return truth == 0 ? 0 : (AllLines.Sum(l => l.Total) - truth) / (double)truth;
        }
    }

    /// <summary>(Σ entries counted − Σ true) / Σ true over the zones the system judged: above 0 when boxes flap on borders.</summary>
    public double ZoneEntryError
    {
        get
        {
            var judged = Scenes.SelectMany(s => s.Zones).Where(z => z.Entries is not null).ToList();
            var truth = judged.Sum(z => (long)z.TruthEntries);
            return truth == 0 ? 0 : (judged.Sum(z => z.Entries!.Value) - truth) / (double)truth;
        }
    }

    /// <summary>Σ |counted − true| / Σ true, per scene, line and direction: errors that do not cancel out.</summary>
    public double LineCountAbsoluteError
    {
        get
        {
            var truth = AllLines.Sum(l => (long)l.TruthTotal);
            return truth == 0 ? 0 : AllLines.Sum(l => Math.Abs(l.LeftToRight - l.TruthLeftToRight) + Math.Abs(l.RightToLeft - l.TruthRightToLeft)) / (double)truth;
        }
    }
}

/// <summary>
/// Runs a tracking system over generated scenes (<see cref="MultiPersonScenes"/>): decodes each scene's video, feeds
/// every frame to a fresh <see cref="ISceneTracker"/>, and scores its boxes against gt.txt
/// (<see cref="MotEvaluation"/>, IoU ≥ 0.5) and its line counts against the scene's.
/// </summary>
public static class TrackingHarness
{
    /// <summary>The scene folders of one split ("train" or "test") listed in a generated set's scenes.json.</summary>
    public static IReadOnlyList<string> SceneFolders(string scenesRoot, string split)
    {
        var path = Path.Combine(scenesRoot, MultiPersonScenes.MetadataFile);
        if (!File.Exists(path))
        {
            throw new TrainingDataException($"{path} not found: not a folder of generated scenes");
        }
        var metadata = MultiPersonScenes.Metadata.Load(path);
        var scenes = split switch
        {
            "train" => metadata.TrainScenes,
            "test" => metadata.TestScenes,
            _ => throw new ArgumentException($"unknown split '{split}' (train or test)", nameof(split)),
        };
        return [.. scenes.Select(s => Path.Combine(scenesRoot, s))];
    }

    /// <summary>
    /// Evaluates the system on every scene. With <paramref name="outputFolder"/>, each scene's boxes are written there
    /// as MOTChallenge results (<c>&lt;split&gt;-&lt;scene&gt;.txt</c>).
    /// </summary>
    public static TrackingReport Run(IEnumerable<string> sceneFolders, Func<MultiPersonScenes.Scene, ISceneTracker> start, string? outputFolder,
        IProgress<string>? progress, CancellationToken ct)
    {
        var results = new List<SceneResult>();
        foreach (var folder in sceneFolders)
        {
            var result = RunScene(folder, start, outputFolder, ct);
            results.Add(result);
            progress?.Report($"{result.Scene}: MOTA {result.Metrics.Mota:0.000}, IDF1 {result.Metrics.Idf1:0.000}, IDSW {result.Metrics.IdSwitches}");
        }
        return new TrackingReport(results, MotMetrics.Combine(results.Select(r => r.Metrics)));
    }

    public static SceneResult RunScene(string sceneFolder, Func<MultiPersonScenes.Scene, ISceneTracker> start, string? outputFolder, CancellationToken ct)
    {
        var scene = MultiPersonScenes.Scene.Load(Path.Combine(sceneFolder, MultiPersonScenes.SceneFile));
        var truth = MotChallengeFile.Read(Path.Combine(sceneFolder, MultiPersonScenes.GroundTruthFile));
        var truthByFrame = truth.ToLookup(b => b.Frame);
        var hypotheses = new List<MotBox>();
        var video = Path.Combine(sceneFolder, MultiPersonScenes.VideoFile);
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        using var image = new Mat();
        using var system = start(scene);
        var frames = 0;
        long ticks = 0;
        while (capture.Read(image))
        {
            ct.ThrowIfCancellationRequested();
            frames++;
            var frame = new SceneFrame(frames, (frames - 1) * 1000.0 / scene.Fps, image, [.. truthByFrame[frames]]);
            var began = Stopwatch.GetTimestamp();
            var boxes = system.Track(frame);
            ticks += Stopwatch.GetTimestamp() - began;
            foreach (var box in boxes)
            {
                if (box.Frame != frames)
                {
                    throw new InvalidOperationException($"the tracker answered frame {frames} with a box of frame {box.Frame}");
                }
                hypotheses.Add(box);
            }
        }
        if (frames != scene.Frames)
        {
            throw new TrainingDataException($"{video} decodes to {frames} frames but {MultiPersonScenes.SceneFile} says {scene.Frames}");
        }
        var entered = system.ZoneEntries().ToDictionary(z => z.Name, StringComparer.Ordinal);
        var zones = scene.Zones.Select(z => new ZoneComparison(scene.Name, z.Name, z.Entries, entered.TryGetValue(z.Name, out var e) ? e.Entries : null)).ToList();
        var counted = system.LineCounts().ToDictionary(l => l.Name, StringComparer.Ordinal);
        var lines = scene.Lines.Select(l => counted.TryGetValue(l.Name, out var c)
            ? new LineComparison(scene.Name, l.Name, l.LeftToRight, l.RightToLeft, c.LeftToRight, c.RightToLeft)
            : new LineComparison(scene.Name, l.Name, l.LeftToRight, l.RightToLeft, 0, 0)).ToList();
        if (outputFolder is not null)
        {
            Directory.CreateDirectory(outputFolder);
            MotChallengeFile.Write(Path.Combine(outputFolder, $"{scene.Split}-{scene.Name}.txt"), hypotheses);
        }
        return new SceneResult($"{scene.Split}/{scene.Name}", MotEvaluation.Evaluate(truth, hypotheses), lines, zones,
            Stopwatch.GetElapsedTime(0, ticks).TotalMilliseconds / Math.Max(1, frames));
    }
}

/// <summary>A box a box source found: left, top, width, height in pixels, and a confidence in 0..1.</summary>
public readonly record struct BoxDetection(double Left, double Top, double Width, double Height, float Score = 1);

/// <summary>
/// A box source that isolates the tracker: the ground truth, perturbed as a good detector would be. Each visible
/// person's box moves and resizes by Gaussian noise (a share of its size), some detections are dropped at random, people
/// less visible than <see cref="MinVisibility"/> (hidden or outside the frame) are missed, and the score is the
/// person's visibility (with noise), so half-hidden people come as low-score detections as they do from a real
/// detector. Seeded per scene: the same scene gives the same boxes.
/// </summary>
public sealed class JitteredTruth(int seed)
{
    private readonly Random _random = new(seed);

    /// <summary>Standard deviation of the centre's shift and of the size's change, as a share of the box's width and height.</summary>
    public double Jitter { get; init; } = 0.05;

    /// <summary>Share of detections dropped at random (a detector's misses).</summary>
    public double DropRate { get; init; } = 0.05;

    /// <summary>People less visible than this are not detected.</summary>
    public double MinVisibility { get; init; } = 0.2;

    public IReadOnlyList<BoxDetection> Detect(SceneFrame frame)
    {
        var found = new List<BoxDetection>();
        foreach (var box in frame.Truth)
        {
            // Draw every number for every box, so that the drop decision does not shift the noise of the others.
            var (dx, dy, dw, dh, score, drop) = (Gaussian(), Gaussian(), Gaussian(), Gaussian(), Gaussian(), _random.NextDouble());
            if (box.Visibility < MinVisibility || drop < DropRate)
            {
                continue;
            }
            var width = Math.Max(2, box.Width * (1 + Jitter * dw));
            var height = Math.Max(2, box.Height * (1 + Jitter * dh));
            var cx = box.Left + box.Width / 2 + Jitter * box.Width * dx;
            var cy = box.Top + box.Height / 2 + Jitter * box.Height * dy;
            var left = Math.Clamp(cx - width / 2, 0, frame.Image.Width - 2);
            var top = Math.Clamp(cy - height / 2, 0, frame.Image.Height - 2);
            found.Add(new BoxDetection(left, top, Math.Min(width, frame.Image.Width - left), Math.Min(height, frame.Image.Height - top),
                (float)Math.Clamp(box.Visibility + 0.05 * score, 0.01, 1)));
        }
        return found;
    }

    private double Gaussian()
    {
        // Box–Muller.
        var u = 1 - _random.NextDouble();
        var v = _random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
