using Edge.Models;
using System.Text.Json;
using OpenCvSharp;

namespace Edge.Training.Data;

/// <summary>
/// Builds activity test material: short clips of a procedurally animated articulated figure (head, torso, upper and
/// lower arms and legs) drawn over real footage (a still crop of one vtest.avi frame per clip), one folder per class. The classes are
/// made so that one frame cannot tell several of them apart and only the motion can:
/// <list type="bullet">
/// <item>walk and run draw their poses from one gait distribution and differ only in cycle rate and ground speed;</item>
/// <item>stand holds one static pose drawn either from wave's frames (a raised arm) or from the gait;</item>
/// <item>wave swings the forearm of a raised arm; fall starts like stand or walk, then tips over to lying.</item>
/// </list>
/// Every clip has its own random generator seeded from (seed, split, class, index), so the material is the same for
/// a seed whatever the order of work. Training and test clips take their backgrounds from disjoint parts of the
/// footage (the first three quarters and the rest). Everything is written into a staging folder that replaces the output only once every clip is whole.
/// </summary>
public static class ActivityClips
{
    /// <summary>Class folder names, in the order <c>edge train sequence</c> numbers them (ordinal).</summary>
    public static readonly string[] Classes = ["fall", "run", "stand", "walk", "wave"];

    public const string MetadataFile = "activity.json";

    public sealed record Options
    {
        public int TrainClipsPerClass { get; init; } = 100;

        public int TestClipsPerClass { get; init; } = 30;

        public int Frames { get; init; } = 12;

        public int Seed { get; init; } = 1;

        public int Width { get; init; } = 320;

        public int Height { get; init; } = 240;

        public double Fps { get; init; } = 10;

        /// <summary>Share of the background footage (from its start) that training clips draw from; test clips use the rest.</summary>
        public double TrainFootageShare { get; init; } = 0.75;
    }

    /// <summary>What was drawn in one clip, for the metadata file.</summary>
    public sealed record Clip(string Split, string Label, string File, int Frames, int BackgroundFrame, int FigureHeightPx,
        int Direction, double CyclePeriodFrames, double SpeedPxPerFrame, int? FallStartFrame);

    public sealed record Metadata(int Seed, int Width, int Height, double Fps, int Frames, string Background, string[] Labels, Clip[] Clips)
    {
        private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

        public string ToJson() => JsonSerializer.Serialize(this, s_json);

        public static Metadata Load(string path) =>
            JsonSerializer.Deserialize<Metadata>(System.IO.File.ReadAllText(path), s_json) ?? throw new InvalidDataException($"{path} is empty");
    }

    /// <summary>
    /// Writes <c>train/&lt;class&gt;/*.avi</c>, <c>test/&lt;class&gt;/*.avi</c> (MJPEG) and <c>activity.json</c> into
    /// <paramref name="outputFolder"/>, replacing those of an earlier run only when every clip is written.
    /// </summary>
    public static Metadata Create(string backgroundVideo, string outputFolder, Options options, IProgress<(int Done, int Total)>? progress, CancellationToken ct)
    {
        if (options.Frames < 8 || options.TrainClipsPerClass < 1 || options.TestClipsPerClass < 1)
        {
            throw new TrainingDataException($"need at least 8 frames and one training and one test clip per class (got {options.Frames} frames, {options.TrainClipsPerClass} and {options.TestClipsPerClass} clips)");
        }
        var footage = Footage.Read(backgroundVideo, options.Width, options.Height);
        var staging = Path.Combine(Path.GetFullPath(outputFolder), ".incomplete");
        try
        {
            var split = (int)(footage.Count * options.TrainFootageShare);
            if (split < 1 || split >= footage.Count)
            {
                throw new TrainingDataException($"{backgroundVideo} has {footage.Count} frames: too few to give training and test clips backgrounds of their own");
            }
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            var jobs = new List<(string Split, int Label, int Index, int First, int Last)>();
            foreach (var (name, count, first, last) in new[] { ("train", options.TrainClipsPerClass, 0, split), ("test", options.TestClipsPerClass, split, footage.Count) })
            {
                for (var label = 0; label < Classes.Length; label++)
                {
                    Directory.CreateDirectory(Path.Combine(staging, name, Classes[label]));
                    for (var i = 0; i < count; i++)
                    {
                        jobs.Add((name, label, i, first, last));
                    }
                }
            }
            var clips = new Clip[jobs.Count];
            var done = 0;
            // Clips are independent (own seed, own file), so two cores draw and encode two at a time.
            Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct }, j =>
            {
                var (name, label, index, first, last) = jobs[j];
                var random = new Random(ClipSeed(options.Seed, name == "train" ? 0 : 1, label, index));
                var file = Path.Combine(name, Classes[label], $"{Classes[label]}-{index:D3}.avi");
                clips[j] = Render(Classes[label], random, footage, first, last, options, Path.Combine(staging, file)) with { Split = name, File = file };
                progress?.Report((Interlocked.Increment(ref done), jobs.Count));
            });
            var metadata = new Metadata(options.Seed, options.Width, options.Height, options.Fps, options.Frames, Path.GetFileName(backgroundVideo), Classes, clips);
            System.IO.File.WriteAllText(Path.Combine(staging, MetadataFile), metadata.ToJson());
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
        finally
        {
            footage.ForEach(m => m.Dispose());
        }
    }

    private static Clip Render(string activity, Random r, List<Mat> footage, int first, int last, Options o, string path)
    {
        var (w, h) = (o.Width, o.Height);
        var frames = o.Frames;
        var ground = r.Uniform(0.86, 0.97) * h;
        var height = r.Uniform(0.65, 0.9) * h;
        var direction = r.Next(2) == 0 ? 1 : -1;
        var gait = Gait.Draw(r);
        var wave = Wave.Draw(r);
        var figure = Figure.Draw(r, height);
        double period = 0, speed = 0;
        int? fallStart = null;
        var poses = new Pose[frames];
        var x = new double[frames];
        switch (activity)
        {
            case "walk":
            case "run":
                // Frames per gait cycle and ground speed (share of the frame width per frame): running is about three
                // times faster in both, so that a 12-frame window holds under one walking cycle and about three running.
                period = activity == "walk" ? r.Uniform(12, 16) : r.Uniform(4, 5);
                speed = (activity == "walk" ? r.Uniform(0.004, 0.008) : r.Uniform(0.018, 0.024)) * w;
                var phase0 = r.Uniform(0, 2 * Math.PI);
                var start = Start(r, w, height, direction, speed * (frames - 1));
                for (var t = 0; t < frames; t++)
                {
                    poses[t] = gait.At(phase0 + 2 * Math.PI * t / period);
                    x[t] = start + direction * speed * t;
                }
                break;
            case "wave":
                period = r.Uniform(4, 8);
                var wavePhase = r.Uniform(0, 2 * Math.PI);
                var at = Start(r, w, height, direction, 0);
                for (var t = 0; t < frames; t++)
                {
                    poses[t] = wave.At(wavePhase + 2 * Math.PI * t / period);
                    x[t] = at;
                }
                break;
            case "stand":
                var held = r.NextDouble() < 0.5 ? wave.At(r.Uniform(0, 2 * Math.PI)) : gait.At(r.Uniform(0, 2 * Math.PI));
                var still = Start(r, w, height, direction, 0);
                Array.Fill(poses, held);
                Array.Fill(x, still);
                break;
            case "fall":
                // Upright (standing still or walking) until the fall, then tipping over in 3-6 frames with gravity's
                // quadratic start, then lying. The fall comes early enough that every window of 16 frames sees it or
                // the figure lying.
                var walking = r.NextDouble() < 0.5;
                period = walking ? r.Uniform(12, 16) : 0;
                speed = walking ? r.Uniform(0.004, 0.008) * w : 0;
                var onset = r.Next(2, Math.Max(3, Math.Min(11, frames - 6)));
                var duration = r.Uniform(3, 6);
                var forward = r.Next(2) == 0 ? 1 : -1;
                var lying = r.Uniform(1.35, 1.57) * forward;
                var upright = r.NextDouble() < 0.5 ? wave.At(r.Uniform(0, 2 * Math.PI)) with { ShoulderNear = r.Uniform(-0.3, 0.3) } : gait.At(r.Uniform(0, 2 * Math.PI));
                var phase = r.Uniform(0, 2 * Math.PI);
                // The pivot at the fall: lying must stay in frame, and so must the walk before it.
                var margin = 0.25 * height;
                var (low, high) = (margin, w - margin);
                (low, high) = forward * direction > 0 ? (low, Math.Min(high, w - 0.03 * w - height)) : (Math.Max(low, 0.03 * w + height), high);
                (low, high) = direction > 0 ? (Math.Max(low, margin + speed * onset), high) : (low, Math.Min(high, w - margin - speed * onset));
                var pivot = high > low ? r.Uniform(low, high) : (low + high) / 2;
                var origin = pivot - direction * speed * onset;
                fallStart = onset;
                for (var t = 0; t < frames; t++)
                {
                    var moving = Math.Min(t, onset);
                    var basePose = walking ? gait.At(phase + 2 * Math.PI * moving / period) : upright;
                    var progress = Math.Clamp((t - onset) / duration, 0, 1);
                    poses[t] = basePose with { Tilt = lying * progress * progress, Bob = t > onset ? 0 : basePose.Bob };
                    x[t] = origin + direction * speed * moving;
                }
                break;
            default:
                throw new ArgumentException($"unknown activity {activity}");
        }

        var backgroundFrame = r.Next(first, last);
        using var background = Footage.Backdrop(r, footage[backgroundFrame], w, h);
        var temp = path + ".tmp.avi";
        using (var writer = new VideoWriter(temp, FourCC.MJPG, o.Fps, new OpenCvSharp.Size(w, h)))
        {
            if (!writer.IsOpened())
            {
                throw new IOException($"cannot write {path}");
            }
            using var frame = new Mat();
            for (var t = 0; t < frames; t++)
            {
                background.CopyTo(frame);
                figure.Draw(frame, poses[t], x[t], ground, direction);
                writer.Write(frame);
            }
        }
        System.IO.File.Move(temp, path);
        return new Clip("", activity, "", frames, backgroundFrame, (int)Math.Round(height), direction, Math.Round(period, 2), Math.Round(speed, 2), fallStart);
    }

    /// <summary>A start position that keeps the whole figure in frame while it travels <paramref name="travel"/> pixels.</summary>
    private static double Start(Random r, int width, double height, int direction, double travel)
    {
        var margin = 0.25 * height;
        var low = margin;
        var high = Math.Max(low, width - margin - travel);
        var start = r.Uniform(low, high);
        return direction > 0 ? start : width - start;
    }

    /// <summary>A fixed mix (HashCode is randomised per process, which would break repeatable output).</summary>
    private static int ClipSeed(int seed, int split, int label, int index) => unchecked(((seed * 1_000_003 + split) * 10_007 + label) * 100_003 + index) & int.MaxValue;
}
