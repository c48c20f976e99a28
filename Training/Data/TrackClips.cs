using Edge.Models;
using System.Text.Json;
using OpenCvSharp;

namespace Edge.Training.Data;

/// <summary>
/// Cuts per-track activity material out of generated scenes (<see cref="MultiPersonScenes"/>): for each ground-truth
/// person, windows of <see cref="Options.Frames"/> frames in which they do one thing, each written as a clip of square
/// crops that follow the person's box (the crop the object stage would take: the box squared with a margin, kept
/// inside the frame), in <c>train/&lt;class&gt;/</c> and <c>test/&lt;class&gt;/</c> folders like
/// <see cref="ActivityClips"/>, so <c>edge train sequence --task activity</c> learns per-track activity from them.
/// A window is kept when every frame has an evaluated box and the person's mean visibility reaches
/// <see cref="Options.MinVisibility"/>; it is labelled by the activity of all its frames, or "fall" when the fall
/// starts at frame 2–5 of the window (as in the activity clips). Windows across other changes of activity, and
/// windows of someone lying after a fall, are skipped. Written through a staging folder like the other generators.
/// </summary>
public static class TrackClips
{
    public const string MetadataFile = "clips.json";

    public sealed record Options
    {
        /// <summary>Frames per clip: the activity model's window.</summary>
        public int Frames { get; init; } = 12;

        /// <summary>Frames between the starts of consecutive windows of one person.</summary>
        public int Stride { get; init; } = 6;

        /// <summary>Side of the square clip in pixels.</summary>
        public int Size { get; init; } = 128;

        /// <summary>Margin added on each side of the box before squaring, as a share of its longer side.</summary>
        public double Margin { get; init; } = 0.15;

        public double MinVisibility { get; init; } = 0.6;
    }

    /// <summary>One clip: where it came from and what it shows.</summary>
    public sealed record Clip(string Split, string Label, string File, string Scene, int PersonId, int FirstFrame, int Frames, double MeanVisibility);

    public sealed record Metadata(int Frames, int Size, string[] Labels, Clip[] Clips)
    {
        private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

        public string ToJson() => JsonSerializer.Serialize(this, s_json);

        public static Metadata Load(string path) =>
            JsonSerializer.Deserialize<Metadata>(System.IO.File.ReadAllText(path), s_json) ?? throw new TrainingDataException($"{path} is empty");
    }

    /// <summary>Writes the clips of every scene listed in <paramref name="scenesRoot"/>'s scenes.json into <paramref name="outputFolder"/>.</summary>
    public static Metadata Create(string scenesRoot, string outputFolder, Options options, IProgress<(int Done, int Total)>? progress, CancellationToken ct)
    {
        if (options.Frames < 2 || options.Stride < 1 || options.Size < 16)
        {
            throw new TrainingDataException($"need clips of at least 2 frames, a stride of at least 1 and at least 16 pixels (got {options.Frames}, {options.Stride}, {options.Size})");
        }
        var metadataPath = Path.Combine(scenesRoot, MultiPersonScenes.MetadataFile);
        if (!System.IO.File.Exists(metadataPath))
        {
            throw new TrainingDataException($"{metadataPath} not found: generate scenes first");
        }
        var scenes = MultiPersonScenes.Metadata.Load(metadataPath);
        var folders = scenes.TrainScenes.Concat(scenes.TestScenes).ToList();
        var staging = Path.Combine(Path.GetFullPath(outputFolder), ".incomplete");
        try
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            foreach (var split in new[] { "train", "test" })
            {
                foreach (var label in MultiPersonScenes.Activities)
                {
                    Directory.CreateDirectory(Path.Combine(staging, split, label));
                }
            }
            var clips = new List<Clip>();
            for (var i = 0; i < folders.Count; i++)
            {
                clips.AddRange(CutScene(Path.Combine(scenesRoot, folders[i]), staging, options, ct));
                progress?.Report((i + 1, folders.Count));
            }
            var metadata = new Metadata(options.Frames, options.Size, [.. MultiPersonScenes.Activities], [.. clips]);
            System.IO.File.WriteAllText(Path.Combine(staging, MetadataFile), metadata.ToJson());
            Directory.CreateDirectory(outputFolder);
            foreach (var entry in new[] { "train", "test", MetadataFile })
            {
                var target = Path.Combine(outputFolder, entry);
                if (Directory.Exists(target))
                {
                    Directory.Delete(target, recursive: true);
                }
                if (entry == MetadataFile)
                {
                    System.IO.File.Move(Path.Combine(staging, entry), target, overwrite: true);
                }
                else
                {
                    Directory.Move(Path.Combine(staging, entry), target);
                }
            }
            Directory.Delete(staging, recursive: true);
            return metadata;
        }
        catch
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            throw;
        }
    }

    /// <summary>The windows of one scene worth a clip, by the rules in the class summary.</summary>
    public static List<(MultiPersonScenes.Person Person, int FirstFrame, string Label, double MeanVisibility)> Windows(
        MultiPersonScenes.Scene scene, IReadOnlyList<MotBox> truth, Options options)
    {
        var byPerson = truth.Where(b => b.Evaluated).GroupBy(b => b.Id).ToDictionary(g => g.Key, g => g.ToDictionary(b => b.Frame));
        var windows = new List<(MultiPersonScenes.Person, int, string, double)>();
        foreach (var person in scene.People)
        {
            if (!byPerson.TryGetValue(person.Id, out var boxes))
            {
                continue;
            }
            var fall = person.Activities.FirstOrDefault(a => a.Activity == "fall");
            var starts = Enumerable.Range(0, int.MaxValue).Select(k => person.FirstFrame + k * options.Stride).TakeWhile(f => f + options.Frames - 1 <= person.LastFrame);
            if (fall is not null)
            {
                // Every placement of the fall's onset at frame 2-5 of the window (counting from 0), as in the activity clips.
                starts = starts.Concat(Enumerable.Range(2, 4).Select(offset => fall.FirstFrame - offset));
            }
            foreach (var first in starts.Distinct().Order())
            {
                var last = first + options.Frames - 1;
                if (first < person.FirstFrame || last > person.LastFrame || !Enumerable.Range(first, options.Frames).All(boxes.ContainsKey))
                {
                    continue;
                }
                var activities = Enumerable.Range(first, options.Frames).Select(person.ActivityAt).ToList();
                string label;
                if (fall is not null && activities.Contains("fall"))
                {
                    var onset = fall.FirstFrame - first;
                    if (onset < 2 || onset > 5)
                    {
                        continue;
                    }
                    label = "fall";
                }
                else if (activities.All(a => a == activities[0]) && activities[0] is { } only)
                {
                    label = only;
                }
                else
                {
                    continue;
                }
                var visibility = Enumerable.Range(first, options.Frames).Average(f => boxes[f].Visibility);
                if (visibility >= options.MinVisibility)
                {
                    windows.Add((person, first, label, Math.Round(visibility, 3)));
                }
            }
        }
        return windows;
    }

    private static List<Clip> CutScene(string sceneFolder, string staging, Options options, CancellationToken ct)
    {
        var scene = MultiPersonScenes.Scene.Load(Path.Combine(sceneFolder, MultiPersonScenes.SceneFile));
        var truth = MotChallengeFile.Read(Path.Combine(sceneFolder, MultiPersonScenes.GroundTruthFile));
        var boxes = truth.ToDictionary(b => (b.Frame, b.Id));
        var windows = Windows(scene, truth, options);
        var clips = windows.Select(w => new Clip(scene.Split, w.Label,
            Path.Combine(scene.Split, w.Label, $"{scene.Name}-p{w.Person.Id:D2}-f{w.FirstFrame:D4}.avi"), scene.Name, w.Person.Id, w.FirstFrame,
            options.Frames, w.MeanVisibility)).ToList();
        var writers = new Dictionary<int, VideoWriter>();
        var video = Path.Combine(sceneFolder, MultiPersonScenes.VideoFile);
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        using var frame = new Mat();
        using var crop = new Mat();
        try
        {
            // One pass over the video; a clip's writer is open only while its window runs.
            for (var f = 1; capture.Read(frame); f++)
            {
                ct.ThrowIfCancellationRequested();
                for (var c = 0; c < clips.Count; c++)
                {
                    var clip = clips[c];
                    if (f < clip.FirstFrame || f >= clip.FirstFrame + clip.Frames)
                    {
                        continue;
                    }
                    if (!writers.TryGetValue(c, out var writer))
                    {
                        writer = new VideoWriter(Path.Combine(staging, clip.File + ".tmp.avi"), FourCC.MJPG, scene.Fps, new Size(options.Size, options.Size));
                        writers[c] = writer;
                        if (!writer.IsOpened())
                        {
                            throw new IOException($"cannot write {clip.File}");
                        }
                    }
                    var box = boxes[(f, clip.PersonId)];
                    using (var region = new Mat(frame, SquareCrop(box, frame.Width, frame.Height, options.Margin)))
                    {
                        Cv2.Resize(region, crop, new Size(options.Size, options.Size), interpolation: InterpolationFlags.Area);
                    }
                    writer.Write(crop);
                    if (f == clip.FirstFrame + clip.Frames - 1)
                    {
                        writer.Dispose();
                        writers.Remove(c);
                        System.IO.File.Move(Path.Combine(staging, clip.File + ".tmp.avi"), Path.Combine(staging, clip.File));
                    }
                }
            }
        }
        finally
        {
            foreach (var writer in writers.Values)
            {
                writer.Dispose();
            }
        }
        if (writers.Count > 0)
        {
            throw new TrainingDataException($"{video} ended before every clip was cut");
        }
        return clips;
    }

    /// <summary>The box squared with a margin and moved inside the frame, as the object stage crops (ObjectDetector.SquareCrop).</summary>
    private static Rect SquareCrop(MotBox box, int width, int height, double margin)
    {
        var side = (int)Math.Round(Math.Max(box.Width, box.Height) * (1 + 2 * margin));
        side = Math.Max(2, Math.Min(side, Math.Min(width, height)));
        var x = Math.Clamp((int)(box.Left + box.Width / 2) - side / 2, 0, width - side);
        var y = Math.Clamp((int)(box.Top + box.Height / 2) - side / 2, 0, height - side);
        return new Rect(x, y, side, side);
    }
}
