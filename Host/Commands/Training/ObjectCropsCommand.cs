using Edge.Pipeline.Outputs;
using System.Globalization;
using System.Text.Json;
using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.Logging;
using OpenCvSharp;

namespace Edge.Host.Commands;

/// <summary>
/// <c>edge data objects</c>: a labeled crop set for the object head, from real footage, by a rule anyone can rerun.
/// "person": motion regions (the pipeline's own <see cref="MotionDetector"/>) that OpenCV's HOG people detector
/// agrees with: HOG run on the region's neighbourhood finds a person whose box, trimmed of the detector window's
/// margin, overlaps the region with IoU at least <see cref="AgreementIou"/>. Regions HOG does not confirm are left
/// out. "background": squares of people-like size where nothing moved. The last <c>testFraction</c> of the video is
/// the test split, after a guard gap, so no near-identical neighbour frame leaks between the splits. Crops are cut as
/// the pipeline cuts them (margin, squared) and resized as the frame model resizes them. The set is written to a
/// staging folder and renamed when complete.
/// </summary>
public static class ObjectCropsCommand
{
    public const string DefaultFolder = "data/objects";
    public const string PersonLabel = "person";
    public const string ManifestFile = "crops.json";

    /// <summary>
    /// Each crop's frame and box in frame pixels (the motion region for a person, the still square for background), so
    /// that a head can also learn from the frame model's grid under the box (<see cref="RegionPooling"/>).
    /// </summary>
    public const string RegionsFile = "regions.csv";

    /// <summary>One line of <see cref="RegionsFile"/>: the crop's file (relative to the set), split, label, frame index and box.</summary>
    public sealed record Region(string File, string Split, string Label, int Frame, int X1, int Y1, int X2, int Y2)
    {
        public const string Header = "file,split,label,frame,x1,y1,x2,y2";

        public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{File},{Split},{Label},{Frame},{X1},{Y1},{X2},{Y2}");

        public static IReadOnlyList<Region> Load(string folder)
        {
            var path = Path.Combine(folder, RegionsFile);
            if (!System.IO.File.Exists(path))
            {
                throw new TrainingDataException($"{path} not found: the crop set was written by an older edge data objects; run it again (or edge models prepare --force)");
            }
            var lines = System.IO.File.ReadAllLines(path);
            if (lines.Length == 0 || lines[0] != Header)
            {
                throw new TrainingDataException($"{path}: the first line must be '{Header}'");
            }
            return [.. lines.Skip(1).Where(l => l.Length > 0).Select((line, i) =>
            {
                var f = line.Split(',');
                if (f.Length != 8 || !int.TryParse(f[3], CultureInfo.InvariantCulture, out var frame)
                    || !int.TryParse(f[4], CultureInfo.InvariantCulture, out var x1) || !int.TryParse(f[5], CultureInfo.InvariantCulture, out var y1)
                    || !int.TryParse(f[6], CultureInfo.InvariantCulture, out var x2) || !int.TryParse(f[7], CultureInfo.InvariantCulture, out var y2)
                    || x2 <= x1 || y2 <= y1 || frame < 0)
                {
                    throw new TrainingDataException($"{path} line {i + 2}: expected file,split,label,frame,x1,y1,x2,y2 with a non-empty box");
                }
                return new Region(f[0], f[1], f[2], frame, x1, y1, x2, y2);
            })];
        }
    }

    /// <summary>Frames left out before the test split (3 s of vtest), so the splits share no near-duplicate frames.</summary>
    public const int GuardFrames = 30;

    /// <summary>Frames the background model needs before its regions mean anything.</summary>
    public const int SettleFrames = 10;

    public const double AgreementIou = 0.4;

    /// <summary>HOG's window (64×128) holds a person with a margin; this much of each side is trimmed before comparing.</summary>
    private const double HogMarginX = 0.2;
    private const double HogMarginY = 0.1;

    public sealed record Arguments(string Video, string Out, int Every, double TestFraction);

    public sealed record SplitCounts(int Person, int Background);

    public sealed record Summary(string Video, string Method, int Frames, int Every, int TestStartFrame, int GuardFrames,
        double AgreementIou, SplitCounts Train, SplitCounts Test, int UnconfirmedRegions);

    public static Summary Run(EdgeContext context, Arguments args, CancellationToken ct)
    {
        var logger = context.CreateLogger("Edge.Data");
        if (!File.Exists(args.Video))
        {
            throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.NotFound, $"video file not found: {args.Video}");
        }
        var frameModel = context.Get<ModelOptions>().Resolve(context.Get<ModelOptions>().FrameModel);
        var manifest = ModelManifest.Load(ModelManifest.PathFor(frameModel));
        var cropSize = new Size(manifest.InputWidth, manifest.InputHeight);
        var output = Path.GetFullPath(args.Out);
        var staging = output + ".incomplete";
        try
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
            foreach (var split in new[] { "train", "test" })
            {
                foreach (var label in new[] { PersonLabel, ObjectDetector.BackgroundLabel })
                {
                    Directory.CreateDirectory(Path.Combine(staging, split, label));
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write the crop set to {args.Out}: {ex.Message}", ex);
        }

        try
        {
            var summary = Write(args, staging, cropSize, context.Get<ObjectOptions>(), logger, ct);
            File.WriteAllText(Path.Combine(staging, ManifestFile), JsonSerializer.Serialize(summary, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
            if (Directory.Exists(output))
            {
                Directory.Delete(output, recursive: true);
            }
            Directory.Move(staging, output);
            logger.LogInformation("Crop set {Folder}: train {TrainPerson} person / {TrainBackground} background, test (frames {TestStart}+) {TestPerson} / {TestBackground}; {Unconfirmed} motion regions HOG did not confirm were left out",
                output, summary.Train.Person, summary.Train.Background, summary.TestStartFrame, summary.Test.Person, summary.Test.Background, summary.UnconfirmedRegions);
            return summary;
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

    private static Summary Write(Arguments args, string staging, Size cropSize, ObjectOptions options, ILogger logger, CancellationToken ct)
    {
        using var capture = new VideoCapture(args.Video);
        if (!capture.IsOpened())
        {
            throw new Edge.Capture.CaptureException(Edge.Capture.CaptureError.Undecodable, $"not a video that can be decoded: {args.Video}");
        }
        var frames = capture.FrameCount;
        if (frames < 100)
        {
            throw new TrainingDataException($"{args.Video} has {frames} frames; a crop set with a held-out part needs at least 100");
        }
        var testStart = (int)Math.Round(frames * (1 - args.TestFraction));
        using var motion = new MotionDetector(options.MinAreaPx, options.MergeGapPx);
        using var hog = new HOGDescriptor();
        hog.SetSVMDetector(HOGDescriptor.GetDefaultPeopleDetector());
        using var frame = new Mat();
        using var resized = new Mat();
        var random = new Random(7);
        var counts = new Dictionary<string, int>();
        var regionLines = new List<Region>();
        var unconfirmed = 0;
        var personSides = new List<int>();
        for (var index = 0; capture.Read(frame); index++)
        {
            ct.ThrowIfCancellationRequested();
            // Every frame feeds the background model; only sampled frames give crops.
            var regions = motion.Detect(frame);
            var inGuard = index >= testStart - GuardFrames && index < testStart;
            if (index < SettleFrames || index % args.Every != 0 || inGuard)
            {
                continue;
            }
            var split = index >= testStart ? "test" : "train";
            var bounds = new Rect(0, 0, frame.Width, frame.Height);
            foreach (var region in regions.Take(options.MaxObjects))
            {
                if (!IsPerson(hog, frame, region))
                {
                    unconfirmed++;
                    continue;
                }
                var crop = ObjectDetector.SquareCrop(region, bounds, options.Margin);
                personSides.Add(crop.Width);
                regionLines.Add(Save(frame, crop, region, resized, cropSize, staging, split, PersonLabel, index, counts));
            }
            // Two still squares a frame, sized like the people cropped so far, so size does not give the class away.
            for (int found = 0, tries = 0; found < 2 && tries < 40 && personSides.Count > 0; tries++)
            {
                var side = Math.Min(personSides[random.Next(personSides.Count)], Math.Min(frame.Width, frame.Height));
                var square = new Rect(random.Next(0, frame.Width - side + 1), random.Next(0, frame.Height - side + 1), side, side);
                if (motion.IsStill(square))
                {
                    regionLines.Add(Save(frame, square, square, resized, cropSize, staging, split, ObjectDetector.BackgroundLabel, index, counts));
                    found++;
                }
            }
            if (index % 100 == 0)
            {
                logger.LogInformation("Crop set: frame {Index} of {Frames}, {Person} person and {Background} background crops so far",
                    index, frames, Count(counts, "train", PersonLabel) + Count(counts, "test", PersonLabel),
                    Count(counts, "train", ObjectDetector.BackgroundLabel) + Count(counts, "test", ObjectDetector.BackgroundLabel));
            }
        }
        File.WriteAllLines(Path.Combine(staging, RegionsFile), [Region.Header, .. regionLines.Select(r => r.ToString())]);
        var method = string.Create(CultureInfo.InvariantCulture,
            $"person: MOG2 motion regions confirmed by OpenCV's HOG people detector (IoU >= {AgreementIou} with its trimmed box); background: still squares of person-crop size; test split: frames {testStart}+ after a {GuardFrames}-frame guard gap");
        return new Summary(Path.GetFullPath(args.Video), method, frames, args.Every, testStart, GuardFrames, AgreementIou,
            new SplitCounts(Count(counts, "train", PersonLabel), Count(counts, "train", ObjectDetector.BackgroundLabel)),
            new SplitCounts(Count(counts, "test", PersonLabel), Count(counts, "test", ObjectDetector.BackgroundLabel)), unconfirmed);
    }

    /// <summary>
    /// Runs HOG on the region's neighbourhood, scaled so a region of its height fills most of a detector window:
    /// people far from the camera are smaller than HOG's 128-pixel window, and a neighbourhood costs a fraction of a
    /// whole frame.
    /// </summary>
    public static bool IsPerson(HOGDescriptor hog, Mat frame, Rect region)
    {
        if (region.Height < 40)
        {
            return false;
        }
        var height = (int)(region.Height * 1.6);
        var width = Math.Max(height / 2, region.Width + 16);
        var centre = new Point(region.X + region.Width / 2, region.Y + region.Height / 2);
        var area = new Rect(centre.X - width / 2, centre.Y - height / 2, width, height) & new Rect(0, 0, frame.Width, frame.Height);
        var scale = 160.0 / height;
        using var view = new Mat(frame, area);
        using var scaled = new Mat();
        Cv2.Resize(view, scaled, new Size(), scale, scale, InterpolationFlags.Linear);
        using var padded = new Mat();
        Cv2.CopyMakeBorder(scaled, padded, 0, Math.Max(0, 128 - scaled.Height), 0, Math.Max(0, 64 - scaled.Width), BorderTypes.Replicate);
        var found = hog.DetectMultiScale(padded, 0, new Size(4, 4), new Size(8, 8), 1.05);
        return found.Any(d =>
        {
            var x1 = area.X + (d.X + d.Width * HogMarginX) / scale;
            var y1 = area.Y + (d.Y + d.Height * HogMarginY) / scale;
            var x2 = area.X + (d.Right - d.Width * HogMarginX) / scale;
            var y2 = area.Y + (d.Bottom - d.Height * HogMarginY) / scale;
            var person = Rect.FromLTRB((int)x1, (int)y1, (int)x2, (int)y2);
            return MotionDetector.Iou(person, region) >= AgreementIou;
        });
    }

    private static Region Save(Mat frame, Rect crop, Rect box, Mat resized, Size size, string staging, string split, string label, int index, Dictionary<string, int> counts)
    {
        using var view = new Mat(frame, crop);
        Cv2.Resize(view, resized, size, interpolation: InterpolationFlags.Linear);
        var key = split + "/" + label;
        var n = counts[key] = Count(counts, split, label) + 1;
        var name = string.Create(CultureInfo.InvariantCulture, $"f{index:D5}-{n:D4}.jpg");
        Cv2.ImWrite(Path.Combine(staging, split, label, name), resized, new ImageEncodingParam(ImwriteFlags.JpegQuality, 95));
        return new Region($"{split}/{label}/{name}", split, label, index, box.Left, box.Top, box.Right, box.Bottom);
    }

    private static int Count(Dictionary<string, int> counts, string split, string label) =>
        counts.TryGetValue(split + "/" + label, out var n) ? n : 0;
}
