using Edge.Models;
using OpenCvSharp;

namespace Edge.Training.Data;

public static partial class AnomalyInjector
{
    public const string AppearanceFamily = "appearance";
    public const string SpatialFamily = "spatial";
    public const string TemporalFamily = "temporal";

    /// <summary>The suite's kinds and their families. The original seven keep their names.</summary>
    public static readonly IReadOnlyList<(string Kind, string Family)> SuiteKinds =
    [
        ("darkness", AppearanceFamily), ("splice", AppearanceFamily), ("colour-cast", AppearanceFamily), ("blur", AppearanceFamily),
        ("noise", AppearanceFamily), ("contrast-loss", AppearanceFamily),
        ("occlusion", SpatialFamily), ("foreign-object", SpatialFamily), ("left-object", SpatialFamily), ("intruder", SpatialFamily),
        ("local-blur", SpatialFamily), ("glare", SpatialFamily), ("small-object", SpatialFamily),
        ("freeze", TemporalFamily), ("shake", TemporalFamily), ("reversal", TemporalFamily), ("speed-up", TemporalFamily),
        ("slow-motion", TemporalFamily), ("stutter", TemporalFamily), ("counter-flow", TemporalFamily),
    ];

    /// <summary>
    /// Kinds kept out of all design and tuning (one per family), to estimate how the model does on anomalies nobody
    /// tuned it for. Seeds from <see cref="UnseenSeedBase"/> up are kept out the same way.
    /// </summary>
    public static readonly string[] UnseenKinds = ["contrast-loss", "glare", "stutter"];

    public const int UnseenSeedBase = 100;

    public static string FamilyOf(string kind) =>
        SuiteKinds.FirstOrDefault(k => k.Kind == kind).Family ?? throw new ArgumentException($"unknown anomaly kind {kind}", nameof(kind));

    /// <summary>
    /// The kinds one seed's video gets: the suite's kinds (or <paramref name="kinds"/>) in a fixed shuffled order, taken
    /// <paramref name="count"/> at a time from position seed·count, so that consecutive seeds cover every kind equally.
    /// </summary>
    public static string[] KindsForSeed(int seed, int count, IReadOnlyList<string>? kinds = null)
    {
        var pool = (kinds ?? SuiteKinds.Select(k => k.Kind).ToArray()).ToArray();
        new Random(12345).Shuffle(pool);
        return [.. Enumerable.Range(0, count).Select(j => pool[(seed * count + j) % pool.Length])];
    }

    /// <summary>
    /// Writes <c>NAME-train.avi</c> (the first <paramref name="trainFrames"/> frames, unchanged) and
    /// <c>NAME-sSEED-test.avi</c> with <c>NAME-sSEED-test.gt.json</c>: the rest of the video with
    /// <paramref name="injections"/> anomalies of the kinds <see cref="KindsForSeed"/> gives, each 10–25 frames long with
    /// random strength, size and place, separated by at least <paramref name="gap"/> normal frames (the default event
    /// rules' 5 s cooldown is 50 frames at 10 fps, so events of consecutive injections do not merge or hide each other).
    /// </summary>
    public static GroundTruth CreateSuite(string video, string spliceVideo, string outputFolder, int trainFrames, int seed,
        int injections = 4, int gap = 55, IReadOnlyList<string>? kinds = null)
    {
        Directory.CreateDirectory(outputFolder);
        var name = Path.GetFileNameWithoutExtension(video);
        var frames = ReadAll(video, out var fps);
        var chosen = KindsForSeed(seed, injections, kinds);
        try
        {
            var testFrames = frames.Count - trainFrames;
            var random = new Random(seed * 7919 + 17);
            var lengths = chosen.Select(_ => random.Next(10, 26)).ToArray();
            var slack = testFrames - lengths.Sum() - (injections + 1) * gap;
            if (slack < 0)
            {
                throw new TrainingDataException($"{video} has {frames.Count} frames: too few for {trainFrames} training frames and {injections} injections with gaps of {gap}");
            }
            var trainPath = Path.Combine(outputFolder, $"{name}-train.avi");
            if (!File.Exists(trainPath))
            {
                Write(trainPath, frames.Take(trainFrames), fps);
            }
            var source = frames.Skip(trainFrames).ToList();
            var test = source.Select(f => f.Clone()).ToList();
            var background = Background(frames.Take(trainFrames).ToList());
            var splice = ReadAll(spliceVideo, out _);
            var truth = new List<Injection>();
            try
            {
                // Spread the slack randomly over the gaps.
                var extra = new int[injections + 1];
                for (var i = 0; i < slack; i++)
                {
                    extra[random.Next(extra.Length)]++;
                }
                var start = 0;
                for (var k = 0; k < injections; k++)
                {
                    start += gap + extra[k];
                    var strength = Math.Round(random.NextDouble(), 3);
                    var regions = InjectSuite(chosen[k], test, source, start, lengths[k], strength, splice, background, random);
                    truth.Add(new Injection(chosen[k], start, start + lengths[k] - 1, FamilyOf(chosen[k]), strength, regions));
                    start += lengths[k];
                }
            }
            finally
            {
                splice.ForEach(m => m.Dispose());
                background.Dispose();
            }
            var testPath = Path.Combine(outputFolder, $"{name}-s{seed}-test.avi");
            Write(testPath, test, fps);
            test.ForEach(m => m.Dispose());
            var result = new GroundTruth(Path.GetFileName(testPath), testFrames, fps, [.. truth]);
            result.Save(Path.ChangeExtension(testPath, ".gt.json"));
            return result;
        }
        finally
        {
            frames.ForEach(m => m.Dispose());
        }
    }

    /// <summary>Per-pixel median of up to 25 frames spread over <paramref name="frames"/>: the empty scene.</summary>
    private static Mat Background(List<Mat> frames)
    {
        var picks = Enumerable.Range(0, Math.Min(25, frames.Count)).Select(i => frames[i * frames.Count / Math.Min(25, frames.Count)]).ToList();
        var size = frames[0].Size();
        var result = new Mat(size, MatType.CV_8UC3);
        var bytes = picks.Select(p => { p.GetArray(out Vec3b[] data); return data; }).ToList();
        var output = new Vec3b[size.Width * size.Height];
        var values = new byte[picks.Count];
        for (var i = 0; i < output.Length; i++)
        {
            var pixel = new Vec3b();
            for (var c = 0; c < 3; c++)
            {
                for (var f = 0; f < picks.Count; f++)
                {
                    values[f] = bytes[f][i][c];
                }
                Array.Sort(values);
                pixel[c] = values[values.Length / 2];
            }
            output[i] = pixel;
        }
        result.SetArray(output);
        return result;
    }

    /// <summary>The largest moving blob of <paramref name="frame"/> against the empty scene, or null.</summary>
    private static Rect? MovingBlob(Mat frame, Mat background, Rect? within = null)
    {
        using var difference = new Mat();
        Cv2.Absdiff(frame, background, difference);
        using var grey = new Mat();
        Cv2.CvtColor(difference, grey, ColorConversionCodes.BGR2GRAY);
        using var mask = new Mat();
        Cv2.Threshold(grey, mask, 40, 255, ThresholdTypes.Binary);
        using var kernel = Cv2.GetStructuringElement(MorphShapes.Ellipse, new Size(5, 5));
        Cv2.MorphologyEx(mask, mask, MorphTypes.Close, kernel);
        Cv2.FindContours(mask, out var contours, out _, RetrievalModes.External, ContourApproximationModes.ApproxSimple);
        var boxes = contours.Select(c => Cv2.BoundingRect(c))
            .Where(b => b.Height >= 25 && b.Height > b.Width && b.Width >= 8 && (within is null || within.Value.Contains(b)))
            .OrderByDescending(b => b.Width * b.Height).ToList();
        return boxes.Count == 0 ? null : boxes[0];
    }

    /// <summary>Injects one suite anomaly into test[start .. start + length); returns the changed boxes, if local.</summary>
    private static Region[]? InjectSuite(string kind, List<Mat> test, List<Mat> source, int start, int length, double strength,
        List<Mat> splice, Mat background, Random random)
    {
        var size = test[0].Size();
        double Lerp(double a, double b) => a + (b - a) * strength;
        var regions = new List<Region>();
        Rect RandomBox(double minFraction, double maxFraction, double top = 0.15)
        {
            var w = (int)(size.Width * Lerp(minFraction, maxFraction));
            var h = (int)(w * (0.6 + 0.6 * random.NextDouble()));
            h = Math.Min(h, size.Height / 2);
            return new Rect(random.Next(0, size.Width - w), random.Next((int)(size.Height * top), size.Height - h), w, h);
        }
        var box = RandomBox(0.10, 0.25);
        var colour = new Scalar(random.Next(256), random.Next(256), random.Next(256));
        Rect? blob = null;
        Mat? sprite = null;
        Mat? spriteMask = null;
        if (kind is "intruder" or "counter-flow")
        {
            // A real person from the footage: the largest moving blob of a frame near the start.
            for (var probe = 0; probe < 60 && blob is null; probe++)
            {
                var index = (start + random.Next(-40, 40) + source.Count) % source.Count;
                blob = MovingBlob(source[index], background);
                if (blob is { } b && kind == "intruder")
                {
                    var padded = Pad(b, 4, size);
                    using var person = new Mat(source[index], padded);
                    using var empty = new Mat(background, padded);
                    sprite = person.Clone();
                    using var difference = new Mat();
                    Cv2.Absdiff(person, empty, difference);
                    spriteMask = new Mat();
                    Cv2.CvtColor(difference, spriteMask, ColorConversionCodes.BGR2GRAY);
                    Cv2.Threshold(spriteMask, spriteMask, 30, 255, ThresholdTypes.Binary);
                    blob = padded;
                }
            }
            blob ??= new Rect(size.Width / 2, size.Height / 3, 40, 80);
            if (kind == "counter-flow")
            {
                // Someone in the first frame the region plays, followed from there (a blob from the frames around the
                // start may have left the place by the frames played, and the region then showed an empty lawn). The
                // probe above still runs for it, so that later injections draw the same random numbers as before.
                blob = MovingBlob(source[Math.Min(start + length - 1, source.Count - 1)], background) ?? blob;
            }
        }
        // The lawn in the lower left of vtest.avi, where nobody walks in the training part (the first 400 frames; in
        // frames 500-680, which the test videos show, people do cross it: README, "The busier stretch");
        // elsewhere, the lower left of the frame.
        var intruderStart = new Point(random.Next(size.Width / 20, size.Width / 3), random.Next(size.Height * 3 / 5, size.Height * 4 / 5));
        var intruderStep = new Point((int)Lerp(3, 9) * (random.Next(2) * 2 - 1), random.Next(-2, 3));
        var skip = (int)Math.Round(Lerp(3, 5));
        var repeat = (int)Math.Round(Lerp(2, 4));
        var stutterIndex = start;
        for (var i = 0; i < length; i++)
        {
            var frame = test[start + i];
            var original = source[start + i];
            switch (kind)
            {
                case "darkness":
                    original.ConvertTo(frame, -1, Lerp(0.4, 0.1));
                    break;
                case "splice":
                    Cv2.Resize(splice[(random.Next(splice.Count) + i) % splice.Count], frame, size);
                    break;
                case "colour-cast":
                    {
                        var cast = new Scalar(0, 0, 0);
                        var channel = (start % 3);
                        var amount = Lerp(35, 90);
                        cast[channel] = amount;
                        cast[(channel + 1) % 3] = -amount / 2;
                        Cv2.Add(original, cast, frame);
                        break;
                    }
                case "blur":
                    Cv2.GaussianBlur(original, frame, new Size(0, 0), Lerp(2.5, 7));
                    break;
                case "noise":
                    using (var noise = new Mat(size, MatType.CV_16SC3))
                    using (var wide = new Mat())
                    {
                        Cv2.Randn(noise, Scalar.All(0), Scalar.All(Lerp(15, 40)));
                        original.ConvertTo(wide, MatType.CV_16SC3);
                        Cv2.Add(wide, noise, wide);
                        wide.ConvertTo(frame, MatType.CV_8UC3);
                    }
                    break;
                case "contrast-loss":
                    {
                        var keep = Lerp(0.55, 0.25);
                        Cv2.AddWeighted(original, keep, original, 0, (1 - keep) * 170, frame);
                        break;
                    }
                case "occlusion":
                    Cv2.Rectangle(frame, box, new Scalar(colour.Val0 * 0.3, colour.Val1 * 0.3, colour.Val2 * 0.3), -1);
                    regions.Add(new Region(start + i, box.X, box.Y, box.Width, box.Height));
                    break;
                case "left-object":
                    {
                        // An object from another clip, put down at the start and left there.
                        var w = (int)Lerp(30, 70);
                        var place = new Rect(box.X, box.Y, w, (int)(w * 0.8));
                        using var crop = new Mat(splice[splice.Count / 2], new Rect(splice[0].Width / 3, splice[0].Height / 3, splice[0].Width / 3, splice[0].Height / 3));
                        using var resized = crop.Resize(place.Size);
                        using var target = new Mat(frame, place);
                        resized.CopyTo(target);
                        regions.Add(new Region(start + i, place.X, place.Y, place.Width, place.Height));
                        break;
                    }
                case "foreign-object":
                    {
                        var radius = (int)(size.Height * Lerp(0.05, 0.12));
                        var x = (int)((i + 0.5) / length * size.Width);
                        var y = box.Y + (int)(40 * Math.Sin(i));
                        Cv2.Circle(frame, new Point(x, y), radius, new Scalar(0, 200, 255), -1);
                        regions.Add(Clip(new Region(start + i, x - radius, y - radius, 2 * radius, 2 * radius), size));
                        break;
                    }
                case "small-object":
                    {
                        // A small thing thrown across the scene: a few pixels at 224, one cell of the grid.
                        var radius = (int)Lerp(8, 16);
                        var x = box.X + (int)(i * Lerp(8, 20));
                        var y = box.Y + (int)(i * (i - length) * 0.8);
                        x = Math.Clamp(x, radius, size.Width - radius - 1);
                        y = Math.Clamp(y, radius, size.Height - radius - 1);
                        Cv2.Circle(frame, new Point(x, y), radius, colour, -1);
                        regions.Add(Clip(new Region(start + i, x - radius, y - radius, 2 * radius, 2 * radius), size));
                        break;
                    }
                case "intruder":
                    {
                        var at = new Rect(intruderStart.X + intruderStep.X * i, intruderStart.Y + intruderStep.Y * i, sprite!.Width, sprite.Height);
                        at = new Rect(Math.Clamp(at.X, 0, size.Width - at.Width), Math.Clamp(at.Y, 0, size.Height - at.Height), at.Width, at.Height);
                        using var target = new Mat(frame, at);
                        sprite.CopyTo(target, spriteMask!);
                        regions.Add(new Region(start + i, at.X, at.Y, at.Width, at.Height));
                        break;
                    }
                case "local-blur":
                    using (var part = new Mat(frame, box))
                    {
                        Cv2.GaussianBlur(part, part, new Size(0, 0), Lerp(4, 10));
                    }
                    regions.Add(new Region(start + i, box.X, box.Y, box.Width, box.Height));
                    break;
                case "glare":
                    {
                        var radius = (int)Lerp(40, 100);
                        var centre = new Point(box.X + box.Width / 2, box.Y + box.Height / 2);
                        using var spot = new Mat(size, MatType.CV_8UC3, Scalar.All(0));
                        Cv2.Circle(spot, centre, radius, Scalar.All(Lerp(120, 220)), -1);
                        Cv2.GaussianBlur(spot, spot, new Size(0, 0), radius / 3.0);
                        Cv2.Add(original, spot, frame);
                        regions.Add(Clip(new Region(start + i, centre.X - radius, centre.Y - radius, 2 * radius, 2 * radius), size));
                        break;
                    }
                case "freeze":
                    source[start].CopyTo(frame);
                    break;
                case "shake":
                    {
                        var dx = Lerp(10, 40) * (random.NextDouble() * 2 - 1);
                        var dy = Lerp(8, 30) * (random.NextDouble() * 2 - 1);
                        using var shift = Mat.FromPixelData(2, 3, MatType.CV_64FC1, new double[] { 1, 0, dx, 0, 1, dy });
                        Cv2.WarpAffine(original, frame, shift, size, borderMode: BorderTypes.Reflect);
                        break;
                    }
                case "reversal":
                    source[start + length - 1 - i].CopyTo(frame);
                    break;
                case "speed-up":
                    source[Math.Min(start + i * skip, source.Count - 1)].CopyTo(frame);
                    break;
                case "slow-motion":
                    source[start + i / repeat].CopyTo(frame);
                    break;
                case "stutter":
                    // The feed hangs and then jumps to catch up, as an overloaded encoder does.
                    if (random.NextDouble() < 0.5)
                    {
                        stutterIndex = Math.Min(stutterIndex + random.Next(2, 5), source.Count - 1);
                    }
                    source[stutterIndex].CopyTo(frame);
                    break;
                case "counter-flow":
                    {
                        // The region around a walking person plays backwards at double speed: someone moving fast
                        // against the flow. The region follows the person through the frames it plays.
                        var from = Math.Clamp(start + length - 1 - 2 * i, 0, source.Count - 1);
                        blob = MovingBlob(source[from], background, Pad(blob!.Value, 40, size)) ?? blob;
                        var region = Pad(blob.Value, 12, size);
                        using var from_ = new Mat(source[from], region);
                        using var target = new Mat(frame, region);
                        from_.CopyTo(target);
                        regions.Add(new Region(start + i, region.X, region.Y, region.Width, region.Height));
                        break;
                    }
                default:
                    throw new ArgumentException($"unknown anomaly kind {kind}");
            }
        }
        sprite?.Dispose();
        spriteMask?.Dispose();
        return regions.Count == 0 ? null : [.. regions];
    }

    private static Rect Pad(Rect box, int pad, Size size)
    {
        var x = Math.Max(0, box.X - pad);
        var y = Math.Max(0, box.Y - pad);
        return new Rect(x, y, Math.Min(size.Width, box.Right + pad) - x, Math.Min(size.Height, box.Bottom + pad) - y);
    }

    private static Region Clip(Region r, Size size)
    {
        var x = Math.Max(0, r.X);
        var y = Math.Max(0, r.Y);
        return r with { X = x, Y = y, Width = Math.Min(size.Width, r.X + r.Width) - x, Height = Math.Min(size.Height, r.Y + r.Height) - y };
    }
}
