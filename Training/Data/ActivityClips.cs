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
        var footage = ReadFootage(backgroundVideo, options);
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

    /// <summary>
    /// Joint angles in radians. Limb angles are measured from straight down, positive towards the facing direction;
    /// elbow and knee angles are bends relative to the upper limb (knees bend backwards). Tilt turns the whole body
    /// about the feet (a fall).
    /// </summary>
    private readonly record struct Pose(double ShoulderNear, double ElbowNear, double ShoulderFar, double ElbowFar,
        double HipNear, double KneeNear, double HipFar, double KneeFar, double Bob = 0, double Tilt = 0);

    /// <summary>One gait: amplitudes drawn once per figure, the same distribution for walking and running.</summary>
    private sealed record Gait(double Hip, double Knee, double Shoulder, double Elbow)
    {
        public static Gait Draw(Random r) => new(r.Uniform(0.3, 0.6), r.Uniform(0.3, 0.9), r.Uniform(0.25, 0.55), r.Uniform(0.2, 1.0));

        public Pose At(double phase) => new(
            -Shoulder * Math.Sin(phase), Elbow + 0.2 * Math.Sin(phase), Shoulder * Math.Sin(phase), Elbow - 0.2 * Math.Sin(phase),
            Hip * Math.Sin(phase), 0.1 + Knee * (0.5 + 0.5 * Math.Sin(phase - 1.3)),
            -Hip * Math.Sin(phase), 0.1 + Knee * (0.5 + 0.5 * Math.Sin(phase + Math.PI - 1.3)),
            Bob: 0.015 * Math.Cos(2 * phase));
    }

    /// <summary>A raised arm whose forearm swings; standing legs. Stand draws its static pose from these frames too.</summary>
    private sealed record Wave(double Raise, double ElbowCentre, double ElbowSwing, bool BothArms, double OtherShoulder, double Stance)
    {
        public static Wave Draw(Random r) => new(r.Uniform(2.3, 3.0), r.Uniform(-0.3, 0.4), r.Uniform(0.45, 0.8), r.NextDouble() < 0.3,
            r.Uniform(-0.2, 0.2), r.Uniform(0.05, 0.2));

        public Pose At(double phase)
        {
            var elbow = ElbowCentre + ElbowSwing * Math.Sin(phase);
            return new Pose(Raise, elbow, BothArms ? Raise - 0.1 : OtherShoulder, BothArms ? elbow : 0.15,
                Stance, 0.05, -Stance, 0.05);
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
        using var background = Backdrop(r, footage[backgroundFrame], w, h);
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

    /// <summary>Limb lengths and colours of one figure.</summary>
    private sealed record Figure(double Height, Scalar Shirt, Scalar Trousers, Scalar Skin, int Limb, int Torso)
    {
        private static readonly Scalar[] s_skins = [new(80, 110, 160), new(120, 160, 210), new(60, 80, 110), new(150, 190, 230), new(90, 130, 190)];

        public static Figure Draw(Random r, double height) => new(height,
            new Scalar(r.Next(256), r.Next(256), r.Next(256)), new Scalar(r.Next(200), r.Next(200), r.Next(200)), s_skins[r.Next(s_skins.Length)],
            Math.Max(3, (int)(0.07 * height)), Math.Max(5, (int)(0.14 * height)));

        public void Draw(Mat frame, Pose pose, double x, double ground, int direction)
        {
            var (thigh, shin, torso, upperArm, forearm, head) = (0.25 * Height, 0.24 * Height, 0.3 * Height, 0.17 * Height, 0.16 * Height, 0.075 * Height);
            // Body frame: hip at the origin, y up, x forward; the feet pivot for tilt.
            var leg = thigh + shin;
            var hip = (X: 0.0, Y: leg * (1 + pose.Bob) - leg);
            (double X, double Y) End((double X, double Y) from, double angle, double length) => (from.X + length * Math.Sin(angle), from.Y - length * Math.Cos(angle));
            var neck = (X: hip.X, Y: hip.Y + torso);
            var shoulder = (X: neck.X, Y: neck.Y - 0.05 * Height);
            var headCentre = (X: neck.X, Y: neck.Y + 0.03 * Height + head);
            var kneeNear = End(hip, pose.HipNear, thigh);
            var ankleNear = End(kneeNear, pose.HipNear - pose.KneeNear, shin);
            var kneeFar = End(hip, pose.HipFar, thigh);
            var ankleFar = End(kneeFar, pose.HipFar - pose.KneeFar, shin);
            var elbowNear = End(shoulder, pose.ShoulderNear, upperArm);
            var wristNear = End(elbowNear, pose.ShoulderNear + pose.ElbowNear, forearm);
            var elbowFar = End(shoulder, pose.ShoulderFar, upperArm);
            var wristFar = End(elbowFar, pose.ShoulderFar + pose.ElbowFar, forearm);
            var (cos, sin) = (Math.Cos(pose.Tilt), Math.Sin(pose.Tilt));
            Point P((double X, double Y) p)
            {
                // Pivot about the point between the feet on the ground, then mirror for the facing direction.
                var (px, py) = (p.X, p.Y + leg);
                var (rx, ry) = (px * cos + py * sin, -px * sin + py * cos);
                return new Point((int)Math.Round(x + direction * rx), (int)Math.Round(ground - ry));
            }
            var far = 0.65;
            Line(frame, P(hip), P(kneeFar), P(ankleFar), Shade(Trousers, far), Limb);
            Line(frame, P(shoulder), P(elbowFar), P(wristFar), Shade(Shirt, far), Limb);
            Cv2.Line(frame, P(hip), P(neck), Shirt, Torso, LineTypes.AntiAlias);
            Line(frame, P(hip), P(kneeNear), P(ankleNear), Trousers, Limb);
            Cv2.Circle(frame, P(headCentre), (int)Math.Round(head), Skin, -1, LineTypes.AntiAlias);
            Line(frame, P(shoulder), P(elbowNear), P(wristNear), Shirt, Limb);
        }

        private static Scalar Shade(Scalar colour, double factor) => new(colour.Val0 * factor, colour.Val1 * factor, colour.Val2 * factor);

        private static void Line(Mat frame, Point a, Point b, Point c, Scalar colour, int thickness)
        {
            Cv2.Line(frame, a, b, colour, thickness, LineTypes.AntiAlias);
            Cv2.Line(frame, b, c, colour, thickness, LineTypes.AntiAlias);
        }
    }

    /// <summary>
    /// A random crop of one footage frame, resized and maybe mirrored: the camera holds still, so every change between
    /// frames of a clip is the figure's.
    /// </summary>
    private static Mat Backdrop(Random r, Mat source, int width, int height)
    {
        var size = source.Size();
        var cropWidth = (int)(size.Width * r.Uniform(0.55, 1.0));
        var cropHeight = Math.Min(size.Height, (int)(cropWidth * height / (double)width));
        var crop = new Rect(r.Next(size.Width - cropWidth + 1), r.Next(size.Height - cropHeight + 1), cropWidth, cropHeight);
        var backdrop = new Mat();
        using var region = new Mat(source, crop);
        Cv2.Resize(region, backdrop, new OpenCvSharp.Size(width, height), interpolation: InterpolationFlags.Area);
        if (r.Next(2) == 0)
        {
            Cv2.Flip(backdrop, backdrop, FlipMode.Y);
        }
        return backdrop;
    }

    /// <summary>Decodes the footage at half size (4:3 frames of 384×288 for vtest), enough for crops upscaled to 320×240.</summary>
    private static List<Mat> ReadFootage(string video, Options options)
    {
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        var frames = new List<Mat>();
        using var frame = new Mat();
        while (capture.Read(frame))
        {
            var small = new Mat();
            frames.Add(small);
            Cv2.Resize(frame, small, new OpenCvSharp.Size(Math.Max(options.Width, frame.Width / 2), Math.Max(options.Height, frame.Height / 2)), interpolation: InterpolationFlags.Area);
        }
        if (frames.Count == 0)
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        return frames;
    }

    /// <summary>A fixed mix (HashCode is randomised per process, which would break repeatable output).</summary>
    private static int ClipSeed(int seed, int split, int label, int index) => unchecked(((seed * 1_000_003 + split) * 10_007 + label) * 100_003 + index) & int.MaxValue;

    private static double Uniform(this Random r, double low, double high) => low + (high - low) * r.NextDouble();
}
