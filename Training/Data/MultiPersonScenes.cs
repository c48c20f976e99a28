using Edge.Models;
using System.Globalization;
using System.Text.Json;
using OpenCvSharp;

namespace Edge.Training.Data;

/// <summary>
/// Builds multi-person tracking material with ground truth: scenes of several animated figures (the figures of
/// <see cref="ActivityClips"/>) over a still crop of real footage, each person entering from one side, doing their
/// own activity (walk, run, stand, wave or fall) and leaving (or lying where they fell), at their own depth (nearer
/// is lower in the picture and larger) so that people cross and hide each other; now and then two walk side by side.
/// For every scene it writes:
/// <list type="bullet">
/// <item><c>scene.avi</c> (MJPEG) and <c>seqinfo.ini</c>;</item>
/// <item><c>gt/gt.txt</c> in MOTChallenge's layout (frame, id, left, top, width, height, conf, class, visibility):
/// boxes are the person's drawn pixels inside the frame; visibility is the share of them neither behind a nearer
/// person nor outside the frame; conf is 0 (ignored by evaluation) while less than
/// <see cref="Options.MinInFrameShare"/> of the person is inside the frame, as MOTChallenge marks what no detector
/// can be asked to find;</item>
/// <item><c>scene.json</c>: each person's activities by frame, the scene's zones and lines (in the shape of the
/// pipeline's zone options) and the ground-truth counts: crossings per line and direction, entries per zone, judged by
/// each box's bottom centre as the zone monitor judges tracks.</item>
/// </list>
/// Frames count from 1 everywhere, as in MOTChallenge. Each scene has its own random generator seeded from (seed,
/// split, index): a seed gives byte-identical output whatever the order of work. Training and test scenes take their
/// backgrounds from disjoint parts of the footage (the first <see cref="Options.TrainFootageShare"/> and the rest).
/// Everything is written into a staging folder that replaces the output only once every scene is whole.
/// </summary>
public static class MultiPersonScenes
{
    /// <summary>The activities people do; the names of <see cref="ActivityClips.Classes"/>.</summary>
    public static IReadOnlyList<string> Activities => ActivityClips.Classes;

    public const string MetadataFile = "scenes.json";
    public const string SceneFile = "scene.json";
    public const string VideoFile = "scene.avi";
    public static readonly string GroundTruthFile = Path.Combine("gt", "gt.txt");

    // The walking band: feet between these shares of the frame height; people are this share of the frame height
    // tall at its far and near edge.
    private const double FarGround = 0.5;
    private const double NearGround = 0.94;
    private const double FarHeight = 0.2;
    private const double NearHeight = 0.42;

    public sealed record Options
    {
        public int TrainScenes { get; init; } = 8;

        public int TestScenes { get; init; } = 6;

        public int Frames { get; init; } = 300;

        public int Seed { get; init; } = 1;

        public int Width { get; init; } = 640;

        public int Height { get; init; } = 480;

        public double Fps { get; init; } = 10;

        /// <summary>People per scene, drawn uniformly from this range (companions walking beside someone included).</summary>
        public int MinPeople { get; init; } = 7;

        public int MaxPeople { get; init; } = 11;

        /// <summary>Share of the background footage (from its start) that training scenes draw from; test scenes use the rest.</summary>
        public double TrainFootageShare { get; init; } = 0.75;

        /// <summary>A ground-truth box is evaluated (conf 1) when at least this share of the person is inside the frame.</summary>
        public double MinInFrameShare { get; init; } = 0.3;
    }

    /// <summary>One activity of a person over frames <paramref name="FirstFrame"/>..<paramref name="LastFrame"/> (inclusive).</summary>
    public sealed record ActivitySpan(string Activity, int FirstFrame, int LastFrame);

    /// <summary>
    /// One person: identity (as in gt.txt), what they were made to do (<paramref name="Plan"/>: an activity name), the
    /// frames they appear in, the direction they walk (+1 to the right), whom they walk beside, and their activities by frame.
    /// </summary>
    public sealed record Person(int Id, string Plan, int FirstFrame, int LastFrame, int Direction, int? Beside, ActivitySpan[] Activities)
    {
        /// <summary>The activity at a frame, or null outside the person's frames.</summary>
        public string? ActivityAt(int frame) => Activities.FirstOrDefault(a => frame >= a.FirstFrame && frame <= a.LastFrame)?.Activity;
    }

    /// <summary>A counting line [from, to] (frame pixels) with the ground-truth crossings per direction (see the pipeline's LineOptions for left and right).</summary>
    public sealed record LineTruth(string Name, double[][] Points, int LeftToRight, int RightToLeft);

    /// <summary>A zone polygon (frame pixels) with the ground-truth number of entries.</summary>
    public sealed record ZoneTruth(string Name, double[][] Points, int Entries);

    public sealed record Scene(string Split, string Name, int Seed, int Width, int Height, double Fps, int Frames, string Background,
        int BackgroundFrame, Person[] People, LineTruth[] Lines, ZoneTruth[] Zones)
    {
        public string ToJson() => JsonSerializer.Serialize(this, s_json);

        public static Scene Load(string path)
        {
            try
            {
                return JsonSerializer.Deserialize<Scene>(File.ReadAllText(path), s_json) ?? throw new TrainingDataException($"{path} is empty");
            }
            catch (JsonException ex)
            {
                throw new TrainingDataException($"{path} is not a scene description: {ex.Message}");
            }
        }
    }

    /// <summary>The scenes written, by split; each folder (relative to the output) holds scene.avi, gt/gt.txt, scene.json.</summary>
    public sealed record Metadata(int Seed, string Background, string[] Activities, string[] TrainScenes, string[] TestScenes)
    {
        public string ToJson() => JsonSerializer.Serialize(this, s_json);

        public static Metadata Load(string path) =>
            JsonSerializer.Deserialize<Metadata>(File.ReadAllText(path), s_json) ?? throw new TrainingDataException($"{path} is empty");
    }

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    /// <summary>
    /// Writes <c>train/scene-NNN/</c>, <c>test/scene-NNN/</c> and <c>scenes.json</c> into
    /// <paramref name="outputFolder"/>, replacing those of an earlier run only when every scene is written.
    /// </summary>
    public static Metadata Create(string backgroundVideo, string outputFolder, Options options, IProgress<(int Done, int Total)>? progress, CancellationToken ct)
    {
        if (options.Frames < 30 || options.TrainScenes < 0 || options.TestScenes < 0 || options.TrainScenes + options.TestScenes < 1
            || options.MinPeople < 1 || options.MaxPeople < options.MinPeople || options.Width < 160 || options.Height < 120)
        {
            throw new TrainingDataException($"need at least 30 frames, one scene, 1 ≤ MinPeople ≤ MaxPeople and at least 160×120 pixels (got {options.Frames} frames, {options.TrainScenes}+{options.TestScenes} scenes, {options.MinPeople}..{options.MaxPeople} people, {options.Width}×{options.Height})");
        }
        var count = Footage.Count(backgroundVideo);
        var split = (int)(count * options.TrainFootageShare);
        if (split < 1 || split >= count)
        {
            throw new TrainingDataException($"{backgroundVideo} has {count} frames: too few to give training and test scenes backgrounds of their own");
        }
        var jobs = new List<(string Split, int Index, Random Random, int Background)>();
        foreach (var (name, scenes, first, last) in new[] { ("train", options.TrainScenes, 0, split), ("test", options.TestScenes, split, count) })
        {
            for (var i = 0; i < scenes; i++)
            {
                var random = new Random(SceneSeed(options.Seed, name == "train" ? 0 : 1, i));
                jobs.Add((name, i, random, random.Next(first, last)));
            }
        }
        var footage = Footage.ReadFrames(backgroundVideo, jobs.Select(j => j.Background).ToHashSet(), options.Width, options.Height);
        var staging = Path.Combine(Path.GetFullPath(outputFolder), ".incomplete");
        try
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            Directory.CreateDirectory(staging);
            var done = 0;
            var written = new Scene[jobs.Count];
            // Scenes are independent (own seed, own files): two cores draw and encode two at a time.
            Parallel.For(0, jobs.Count, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount, CancellationToken = ct }, j =>
            {
                var (name, index, random, background) = jobs[j];
                var sceneName = $"scene-{index:D3}";
                var folder = Path.Combine(staging, name, sceneName);
                Directory.CreateDirectory(Path.Combine(folder, "gt"));
                written[j] = Render(name, sceneName, SceneSeed(options.Seed, name == "train" ? 0 : 1, index), random, footage[background], background,
                    Path.GetFileName(backgroundVideo), options, folder, ct);
                progress?.Report((Interlocked.Increment(ref done), jobs.Count));
            });
            var metadata = new Metadata(options.Seed, Path.GetFileName(backgroundVideo), [.. Activities],
                [.. written.Where(s => s.Split == "train").Select(s => Path.Combine("train", s.Name))],
                [.. written.Where(s => s.Split == "test").Select(s => Path.Combine("test", s.Name))]);
            File.WriteAllText(Path.Combine(staging, MetadataFile), metadata.ToJson());
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
                    File.Move(Path.Combine(staging, entry), target, overwrite: true);
                }
                else if (Directory.Exists(Path.Combine(staging, entry)))
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
            foreach (var mat in footage.Values)
            {
                mat.Dispose();
            }
        }
    }

    /// <summary>What one person does, frame by frame, before drawing.</summary>
    private sealed class Actor(int id, string plan, Figure figure, int direction, int? beside)
    {
        public int Id { get; } = id;

        public string Plan { get; } = plan;

        public Figure Figure { get; } = figure;

        public int Direction { get; } = direction;

        public int? Beside { get; } = beside;

        /// <summary>Per frame (index 0 = frame 1): null when absent, else where and how the person is drawn.</summary>
        public (double X, double Ground, double Height, Pose Pose, string Activity)?[] Frames { get; init; } = [];
    }

    private static Scene Render(string split, string name, int seed, Random r, Mat footage, int backgroundFrame, string backgroundName, Options o, string folder, CancellationToken ct)
    {
        var (w, h) = (o.Width, o.Height);
        using var background = Footage.Backdrop(r, footage, w, h);
        var lines = DrawLines(r, w, h);
        var zones = DrawZones(r, w, h);
        var actors = Plan(r, o, lines);

        var truth = new List<MotBox>();
        var temp = Path.Combine(folder, VideoFile + ".tmp.avi");
        using (var writer = new VideoWriter(temp, FourCC.MJPG, o.Fps, new Size(w, h)))
        {
            if (!writer.IsOpened())
            {
                throw new IOException($"cannot write {Path.Combine(folder, VideoFile)}");
            }
            using var frame = new Mat();
            using var occupied = new Mat(h, w, MatType.CV_8UC1);
            using var free = new Mat();
            using var visible = new Mat();
            for (var t = 0; t < o.Frames; t++)
            {
                ct.ThrowIfCancellationRequested();
                background.CopyTo(frame);
                occupied.SetTo(Scalar.Black);
                // Nearest first for visibility (who hides whom), then drawn farthest first.
                var present = actors.Where(a => a.Frames[t] is not null).OrderByDescending(a => a.Frames[t]!.Value.Ground).ThenBy(a => a.Id).ToList();
                foreach (var actor in present)
                {
                    var (x, ground, height, pose, _) = actor.Frames[t]!.Value;
                    var figure = actor.Figure.AtHeight(height);
                    // The person's pixels on a canvas around them that may reach past the frame: truncation counts.
                    var canvas = new Rect((int)Math.Floor(x - 1.4 * height), (int)Math.Floor(ground - 1.4 * height), (int)Math.Ceiling(2.8 * height), (int)Math.Ceiling(1.6 * height));
                    using var mask = new Mat(canvas.Height, canvas.Width, MatType.CV_8UC1, Scalar.Black);
                    figure.Draw(mask, pose, x - canvas.X, ground - canvas.Y, actor.Direction, Scalar.White);
                    var total = Cv2.CountNonZero(mask);
                    var inFrame = canvas & new Rect(0, 0, w, h);
                    if (total == 0 || inFrame.Width <= 0 || inFrame.Height <= 0)
                    {
                        continue;
                    }
                    using var part = new Mat(mask, new Rect(inFrame.X - canvas.X, inFrame.Y - canvas.Y, inFrame.Width, inFrame.Height));
                    var inside = Cv2.CountNonZero(part);
                    if (inside == 0)
                    {
                        continue;
                    }
                    using var occupiedPart = new Mat(occupied, inFrame);
                    Cv2.BitwiseNot(occupiedPart, free);
                    Cv2.BitwiseAnd(part, free, visible);
                    var seen = Cv2.CountNonZero(visible);
                    Cv2.BitwiseOr(occupiedPart, part, occupiedPart);
                    var box = Cv2.BoundingRect(part);
                    truth.Add(new MotBox(t + 1, actor.Id, box.X + inFrame.X, box.Y + inFrame.Y, box.Width, box.Height,
                        inside >= o.MinInFrameShare * total ? 1 : 0, 1, Math.Round(seen / (double)total, 3)));
                }
                for (var k = present.Count - 1; k >= 0; k--)
                {
                    var actor = present[k];
                    var (x, ground, height, pose, _) = actor.Frames[t]!.Value;
                    actor.Figure.AtHeight(height).Draw(frame, pose, x, ground, actor.Direction);
                }
                writer.Write(frame);
            }
        }
        File.Move(temp, Path.Combine(folder, VideoFile));
        truth.Sort((a, b) => a.Frame != b.Frame ? a.Frame.CompareTo(b.Frame) : a.Id.CompareTo(b.Id));
        MotChallengeFile.Write(Path.Combine(folder, GroundTruthFile), truth);
        File.WriteAllText(Path.Combine(folder, "seqinfo.ini"), string.Create(CultureInfo.InvariantCulture,
            $"[Sequence]\nname={name}\nimDir=img1\nframeRate={o.Fps}\nseqLength={o.Frames}\nimWidth={w}\nimHeight={h}\nimExt=.jpg\n"));

        var tracks = truth.GroupBy(b => b.Id).ToDictionary(g => g.Key, g => g.OrderBy(b => b.Frame).ToList());
        var people = actors.Where(a => tracks.ContainsKey(a.Id)).Select(a => new Person(a.Id, a.Plan, tracks[a.Id][0].Frame, tracks[a.Id][^1].Frame,
            a.Direction, a.Beside, Spans(a, tracks[a.Id][0].Frame, tracks[a.Id][^1].Frame))).ToArray();
        var lineTruth = lines.Select(l => CountCrossings(l, tracks.Values)).ToArray();
        var zoneTruth = zones.Select(z => z with { Entries = CountEntries(z, tracks.Values) }).ToArray();
        var scene = new Scene(split, name, seed, w, h, o.Fps, o.Frames, backgroundName, backgroundFrame, people, lineTruth, zoneTruth);
        File.WriteAllText(Path.Combine(folder, SceneFile), scene.ToJson());
        return scene;
    }

    /// <summary>
    /// A "door" line across the whole walking band near the middle (drawn bottom to top, so people walking right cross
    /// it left to right) and a short line that only the far part of the band reaches: people passing below it do not
    /// cross it, which tells a segment from the infinite line.
    /// </summary>
    private static LineTruth[] DrawLines(Random r, int w, int h)
    {
        var door = r.Uniform(0.38, 0.62) * w;
        var tilt = r.Uniform(-0.05, 0.05) * w;
        var shortX = door < w / 2.0 ? r.Uniform(0.7, 0.85) * w : r.Uniform(0.15, 0.3) * w;
        return
        [
            new("door", [[Math.Round(door), h - 1], [Math.Round(door + tilt), Math.Round(0.42 * h)]], 0, 0),
            new("short", [[Math.Round(shortX), Math.Round(0.74 * h)], [Math.Round(shortX), Math.Round(0.45 * h)]], 0, 0),
        ];
    }

    /// <summary>One quadrilateral zone inside the walking band, slightly skewed.</summary>
    private static ZoneTruth[] DrawZones(Random r, int w, int h)
    {
        var left = r.Uniform(0.1, 0.6) * w;
        var right = left + r.Uniform(0.2, 0.3) * w;
        var top = r.Uniform(0.56, 0.66) * h;
        var bottom = r.Uniform(0.8, 0.9) * h;
        var skew = r.Uniform(-0.05, 0.05) * w;
        double[] P(double x, double y) => [Math.Round(x), Math.Round(y)];
        return [new("bench", [P(left + skew, top), P(right + skew, top), P(right, bottom), P(left, bottom)], 0)];
    }

    /// <summary>Who appears when, doing what, and where each person is in every frame.</summary>
    private static List<Actor> Plan(Random r, Options o, LineTruth[] lines)
    {
        var (w, h) = (o.Width, o.Height);
        var people = r.Next(o.MinPeople, o.MaxPeople + 1);
        var actors = new List<Actor>();
        var lineXs = lines.Select(l => (l.Points[0][0] + l.Points[1][0]) / 2).ToArray();
        while (actors.Count < people)
        {
            var id = actors.Count + 1;
            var plan = Pick(r, ["walk", "run", "stand", "wave", "fall"], [0.3, 0.15, 0.2, 0.2, 0.15]);
            var direction = r.Next(2) == 0 ? 1 : -1;
            var start = r.Next(1, (int)(0.75 * o.Frames));
            var ground = r.Uniform(FarGround + 0.03, NearGround) * h;
            var drift = r.Uniform(-0.08, 0.08) * h;
            for (var tries = 0; tries < 50 && PassesNearLineEnd(ground, drift, direction, 0, lines, o); tries++)
            {
                // Nobody walks within a few pixels of a line's end: whether they crossed the segment there would
                // depend on a pixel of the box, not on the tracker.
                (ground, drift) = (r.Uniform(FarGround + 0.03, NearGround) * h, r.Uniform(-0.08, 0.08) * h);
            }
            var pace = plan == "run" ? r.Uniform(0.14, 0.2) : r.Uniform(0.04, 0.07);
            var figure = Figure.Draw(r, 100);
            var gait = Gait.Draw(r);
            var wave = Wave.Draw(r);
            var together = people - actors.Count >= 2 && plan is "walk" or "run" && r.NextDouble() < 0.3;
            // A fall tips the body forward or backward; lying, the box's centre is about half a height from the feet.
            var fallSign = r.Next(2) == 0 ? 1 : -1;
            var lyingShift = plan == "fall" ? direction * fallSign * 0.5 * HeightAt(ground + drift / 2, h) : 0;
            var stop = r.Uniform(0.15, 0.85) * w;
            for (var tries = 0; tries < 20 && lineXs.Any(x => Math.Abs(x - stop) < 0.1 * w || Math.Abs(x - stop - lyingShift) < 0.1 * w); tries++)
            {
                // Standing, waving and falling happen away from the lines, and so does where the faller lies: a box
                // that changes shape or jitters on a line would cross it without anyone walking over.
                stop = r.Uniform(0.15, 0.85) * w;
            }
            var hold = plan switch
            {
                "stand" => r.Next(20, 61),
                "wave" => r.Next(20, 51),
                "fall" => r.Next(0, 11),
                _ => 0,
            };
            var settings = new Motion(plan, direction, start, ground, drift, pace, stop, hold,
                Period: plan == "run" ? r.Uniform(4, 5) : r.Uniform(12, 16), Phase: r.Uniform(0, 2 * Math.PI),
                WavePeriod: r.Uniform(4, 8), StandPose: r.NextDouble() < 0.5 ? wave.At(r.Uniform(0, 2 * Math.PI)) : gait.At(r.Uniform(0, 2 * Math.PI)),
                FallFrames: r.Uniform(3, 6), Lying: r.Uniform(1.35, 1.57) * fallSign);
            actors.Add(new Actor(id, plan, figure, direction, null) { Frames = Move(settings, gait, wave, o) });
            if (together)
            {
                // A companion a little behind and beside: the two overlap on screen for the whole walk.
                var behind = r.Uniform(0.35, 0.6) * HeightAt(ground, h);
                var companion = settings with
                {
                    Ground = Math.Clamp(ground + r.Uniform(-0.04, 0.04) * h, FarGround * h, NearGround * h),
                    Offset = -behind,
                    Phase = r.Uniform(0, 2 * Math.PI),
                };
                for (var tries = 0; tries < 50 && PassesNearLineEnd(companion.Ground, drift, direction, companion.Offset, lines, o); tries++)
                {
                    companion = companion with { Ground = Math.Clamp(ground + r.Uniform(-0.04, 0.04) * h, FarGround * h, NearGround * h) };
                }
                actors.Add(new Actor(id + 1, plan, Figure.Draw(r, 100), direction, id) { Frames = Move(companion, Gait.Draw(r), wave, o) });
            }
        }
        return actors;
    }

    /// <summary>How one person moves: the plan's parameters.</summary>
    private sealed record Motion(string Plan, int Direction, int Start, double Ground, double Drift, double Pace, double Stop, int Hold,
        double Period, double Phase, double WavePeriod, Pose StandPose, double FallFrames, double Lying, double Offset = 0);

    /// <summary>
    /// Steps one person through the scene: walk or run in from outside the frame; for stand, wave and fall, stop at
    /// the chosen place for the hold (standing still, waving, or a short pause before falling), then walk on out, or
    /// fall and lie there. Speeds scale with the person's apparent height (nearer people cover more pixels).
    /// </summary>
    private static (double, double, double, Pose, string)?[] Move(Motion m, Gait gait, Wave wave, Options o)
    {
        var h = o.Height;
        var frames = new (double, double, double, Pose, string)?[o.Frames];
        var (startX, exit, span) = Route(m.Ground, m.Direction, m.Offset, o);
        var x = startX;
        var phase = m.Phase;
        var stage = m.Plan is "walk" or "run" ? "going" : "coming";
        var held = 0;
        var fallAt = -1;
        for (var t = m.Start - 1; t < o.Frames; t++)
        {
            var progress = Math.Clamp(Math.Abs(x - startX) / span, 0, 1);
            var ground = Math.Clamp(m.Ground + m.Drift * progress, FarGround * h, NearGround * h);
            var height = HeightAt(ground, h);
            Pose pose;
            string activity;
            switch (stage)
            {
                case "coming" when m.Direction * (m.Stop - x) <= 0:
                    stage = "holding";
                    goto case "holding";
                case "coming":
                case "going":
                    activity = m.Plan == "run" ? "run" : "walk";
                    pose = gait.At(phase);
                    phase += 2 * Math.PI / m.Period;
                    x += m.Direction * m.Pace * height;
                    break;
                case "holding" when held >= m.Hold:
                    if (m.Plan == "fall")
                    {
                        stage = "falling";
                        fallAt = t;
                        goto case "falling";
                    }
                    stage = "going";
                    goto case "going";
                case "holding":
                    held++;
                    (activity, pose) = m.Plan switch
                    {
                        "wave" => ("wave", wave.At(m.Phase + 2 * Math.PI * held / m.WavePeriod)),
                        "fall" => ("stand", gait.At(phase)),
                        _ => ("stand", m.StandPose),
                    };
                    break;
                case "falling":
                    var tipped = Math.Clamp((t - fallAt) / m.FallFrames, 0, 1);
                    var upright = gait.At(phase);
                    pose = upright with { Tilt = m.Lying * tipped * tipped, Bob = 0 };
                    activity = "fall";
                    break;
                default:
                    throw new InvalidOperationException(stage);
            }
            if (stage == "going" && m.Direction * (x - exit) > 0)
            {
                break;
            }
            frames[t] = (x, ground, height, pose, activity);
        }
        return frames;
    }

    /// <summary>Where a person starts (outside the frame, <paramref name="offset"/> behind), where they leave, and the distance between.</summary>
    private static (double Start, double Exit, double Span) Route(double ground, int direction, double offset, Options o)
    {
        var entryHeight = HeightAt(ground, o.Height);
        var start = (direction > 0 ? -0.7 * entryHeight : o.Width + 0.7 * entryHeight) + direction * offset;
        var exit = direction > 0 ? o.Width + 0.8 * entryHeight : -0.8 * entryHeight;
        return (start, exit, Math.Abs(exit - start));
    }

    /// <summary>Whether the person's feet pass within 5 % of the frame height of an end of a line.</summary>
    private static bool PassesNearLineEnd(double ground, double drift, int direction, double offset, LineTruth[] lines, Options o)
    {
        var (start, _, span) = Route(ground, direction, offset, o);
        foreach (var end in lines.SelectMany(l => l.Points))
        {
            var feet = Math.Clamp(ground + drift * Math.Clamp(Math.Abs(end[0] - start) / span, 0, 1), FarGround * o.Height, NearGround * o.Height);
            if (Math.Abs(feet - end[1]) < 0.05 * o.Height)
            {
                return true;
            }
        }
        return false;
    }

    private static ActivitySpan[] Spans(Actor actor, int first, int last)
    {
        var spans = new List<ActivitySpan>();
        for (var f = first; f <= last; f++)
        {
            var activity = actor.Frames[f - 1]?.Activity;
            if (activity is null)
            {
                continue;
            }
            if (spans.Count > 0 && spans[^1].Activity == activity && spans[^1].LastFrame == f - 1)
            {
                spans[^1] = spans[^1] with { LastFrame = f };
            }
            else
            {
                spans.Add(new ActivitySpan(activity, f, f));
            }
        }
        return [.. spans];
    }

    /// <summary>
    /// Crossings of the segment by each person's bottom centre: a crossing is a change of side of the line between
    /// two boxes (points exactly on the line belong to neither side and are stepped over) whose connecting path meets
    /// the segment itself.
    /// </summary>
    public static LineTruth CountCrossings(LineTruth line, IEnumerable<IReadOnlyList<MotBox>> tracks)
    {
        var (a, b) = ((line.Points[0][0], line.Points[0][1]), (line.Points[1][0], line.Points[1][1]));
        int leftToRight = 0, rightToLeft = 0;
        foreach (var track in tracks)
        {
            var (side, last) = (0, (X: 0.0, Y: 0.0));
            foreach (var box in track)
            {
                var p = BottomCentre(box);
                var now = Math.Sign(Cross(a, b, p));
                if (now == 0)
                {
                    continue;
                }
                if (side != 0 && now != side && Math.Sign(Cross(last, p, a)) * Math.Sign(Cross(last, p, b)) <= 0)
                {
                    if (now > 0)
                    {
                        leftToRight++;
                    }
                    else
                    {
                        rightToLeft++;
                    }
                }
                (side, last) = (now, p);
            }
        }
        return line with { LeftToRight = leftToRight, RightToLeft = rightToLeft };
    }

    /// <summary>Entries into the polygon by each person's bottom centre (a track that starts inside enters at its first box).</summary>
    public static int CountEntries(ZoneTruth zone, IEnumerable<IReadOnlyList<MotBox>> tracks)
    {
        var entries = 0;
        foreach (var track in tracks)
        {
            var inside = false;
            foreach (var box in track)
            {
                var now = Contains(zone.Points, BottomCentre(box));
                entries += now && !inside ? 1 : 0;
                inside = now;
            }
        }
        return entries;
    }

    private static (double X, double Y) BottomCentre(MotBox box) => (box.Left + box.Width / 2, box.Bottom);

    private static double Cross((double X, double Y) a, (double X, double Y) b, (double X, double Y) p) =>
        (b.X - a.X) * (p.Y - a.Y) - (b.Y - a.Y) * (p.X - a.X);

    private static bool Contains(double[][] polygon, (double X, double Y) p)
    {
        var inside = false;
        for (int i = 0, j = polygon.Length - 1; i < polygon.Length; j = i++)
        {
            var (ax, ay, bx, by) = (polygon[i][0], polygon[i][1], polygon[j][0], polygon[j][1]);
            if ((ay > p.Y) != (by > p.Y) && p.X < (bx - ax) * (p.Y - ay) / (by - ay) + ax)
            {
                inside = !inside;
            }
        }
        return inside;
    }

    /// <summary>Apparent height of a person standing at <paramref name="ground"/> (pixels from the top): nearer is larger.</summary>
    private static double HeightAt(double ground, int frameHeight) =>
        frameHeight * (FarHeight + (ground / frameHeight - FarGround) / (NearGround - FarGround) * (NearHeight - FarHeight));

    private static string Pick(Random r, string[] values, double[] weights)
    {
        var u = r.NextDouble() * weights.Sum();
        for (var i = 0; i < values.Length; i++)
        {
            if ((u -= weights[i]) < 0)
            {
                return values[i];
            }
        }
        return values[^1];
    }

    /// <summary>A fixed mix (HashCode is randomised per process, which would break repeatable output).</summary>
    private static int SceneSeed(int seed, int split, int index) => unchecked((seed * 1_000_003 + split) * 100_003 + index + 7_919) & int.MaxValue;
}
