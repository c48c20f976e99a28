using Edge.Models;
using System.Text.Json;
using OpenCvSharp;

namespace Edge.Training.Data;

/// <summary>
/// Builds anomaly test material from real footage: the first part of a video, unchanged, for training on normal
/// footage; the rest with injected anomalies, each of a known kind over known frames, and a ground-truth file.
/// <see cref="Create"/> writes the original seven kinds (frame freeze, camera shake, sudden darkness, partial
/// occlusion, a foreign object crossing fast, temporal reversal, a splice from another clip) in a fixed order and
/// length. <see cref="CreateSuite"/> draws from <see cref="SuiteKinds"/>, twenty kinds in three families (global
/// appearance, local/spatial, temporal), each with a random strength, size, place and duration from the seed, and
/// records the family, the strength and, for kinds that change part of the picture, the injected box per frame.
/// Videos are written as MJPEG AVI through temporary names.
/// </summary>
public static partial class AnomalyInjector
{
    public static readonly string[] Kinds = ["freeze", "shake", "darkness", "occlusion", "foreign-object", "reversal", "splice"];

    /// <summary>One injected anomaly. Fields after EndFrame were added with the suite; older files leave them empty.</summary>
    /// <param name="Family">"appearance", "spatial" or "temporal" (null in files written by <see cref="Create"/> before families existed).</param>
    /// <param name="Strength">0..1: where in the kind's range its parameters were drawn (darker, bigger, faster...).</param>
    /// <param name="Regions">Kinds that change part of the picture: the changed box per frame, in frame pixels.</param>
    public sealed record Injection(string Kind, int StartFrame, int EndFrame, string? Family = null, double? Strength = null, Region[]? Regions = null);

    /// <summary>The box (frame pixels, x, y, width, height) an injection changed in one frame.</summary>
    public sealed record Region(int Frame, int X, int Y, int Width, int Height)
    {
        public Rect ToRect() => new(X, Y, Width, Height);
    }

    /// <summary>Frame-level ground truth of a test video (frames are 0-based; EndFrame is inclusive).</summary>
    public sealed record GroundTruth(string Video, int Frames, double Fps, Injection[] Anomalies)
    {
        private static readonly JsonSerializerOptions s_json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

        public bool IsAnomalous(int frame) => Anomalies.Any(a => frame >= a.StartFrame && frame <= a.EndFrame);

        /// <summary>The injection covering <paramref name="frame"/>, or null.</summary>
        public Injection? At(int frame) => Anomalies.FirstOrDefault(a => frame >= a.StartFrame && frame <= a.EndFrame);

        public void Save(string path)
        {
            File.WriteAllText(path + ".tmp", JsonSerializer.Serialize(this, s_json));
            File.Move(path + ".tmp", path, overwrite: true);
        }

        public static GroundTruth Load(string path) =>
            JsonSerializer.Deserialize<GroundTruth>(File.ReadAllText(path), s_json) ?? throw new InvalidDataException($"{path} is empty");
    }

    /// <summary>
    /// Splits <paramref name="video"/> at <paramref name="trainFrames"/>: writes <c>NAME-train.avi</c> and
    /// <c>NAME-test.avi</c> with <c>NAME-test.gt.json</c> into <paramref name="outputFolder"/>. Each injection lasts
    /// <paramref name="length"/> frames, with <paramref name="gap"/> normal frames before each.
    /// </summary>
    public static GroundTruth Create(string video, string spliceVideo, string outputFolder, int trainFrames, int length = 15, int gap = 35, int seed = 1)
    {
        Directory.CreateDirectory(outputFolder);
        var name = Path.GetFileNameWithoutExtension(video);
        var frames = ReadAll(video, out var fps);
        if (frames.Count < trainFrames + Kinds.Length * (length + gap))
        {
            throw new TrainingDataException($"{video} has {frames.Count} frames: too few for {trainFrames} training frames and {Kinds.Length} injections");
        }
        try
        {
            Write(Path.Combine(outputFolder, $"{name}-train.avi"), frames.Take(trainFrames), fps);
            var test = frames.Skip(trainFrames).Select(f => f.Clone()).ToList();
            var random = new Random(seed);
            var injections = new List<Injection>();
            var splice = ReadAll(spliceVideo, out _);
            try
            {
                for (var k = 0; k < Kinds.Length; k++)
                {
                    var start = gap + k * (length + gap);
                    Inject(Kinds[k], test, start, length, splice, random);
                    injections.Add(new Injection(Kinds[k], start, start + length - 1));
                }
            }
            finally
            {
                splice.ForEach(m => m.Dispose());
            }
            var testPath = Path.Combine(outputFolder, $"{name}-test.avi");
            Write(testPath, test, fps);
            test.ForEach(m => m.Dispose());
            var truth = new GroundTruth(Path.GetFileName(testPath), frames.Count - trainFrames, fps, [.. injections]);
            truth.Save(Path.Combine(outputFolder, $"{name}-test.gt.json"));
            return truth;
        }
        finally
        {
            frames.ForEach(m => m.Dispose());
        }
    }

    private static void Inject(string kind, List<Mat> frames, int start, int length, List<Mat> splice, Random random)
    {
        var size = frames[0].Size();
        var originals = frames.GetRange(start, length).Select(f => f.Clone()).ToList();
        for (var i = 0; i < length; i++)
        {
            var frame = frames[start + i];
            switch (kind)
            {
                case "freeze":
                    originals[0].CopyTo(frame);
                    break;
                case "shake":
                    using (var shift = Mat.FromPixelData(2, 3, MatType.CV_64FC1, new double[] { 1, 0, random.Next(-40, 41), 0, 1, random.Next(-30, 31) }))
                    {
                        Cv2.WarpAffine(originals[i], frame, shift, size, borderMode: BorderTypes.Reflect);
                    }
                    break;
                case "darkness":
                    originals[i].ConvertTo(frame, -1, 0.15);
                    break;
                case "occlusion":
                    Cv2.Rectangle(frame, new Rect(size.Width / 4, size.Height / 4, size.Width / 2, size.Height / 2), Scalar.Black, -1);
                    break;
                case "foreign-object":
                    var x = (int)((i + 0.5) / length * size.Width);
                    Cv2.Circle(frame, new Point(x, size.Height / 2 + (int)(40 * Math.Sin(i))), size.Height / 8, new Scalar(0, 200, 255), -1);
                    break;
                case "reversal":
                    originals[length - 1 - i].CopyTo(frame);
                    break;
                case "splice":
                    Cv2.Resize(splice[(50 + i) % splice.Count], frame, size);
                    break;
                default:
                    throw new ArgumentException($"unknown anomaly kind {kind}");
            }
        }
        originals.ForEach(m => m.Dispose());
    }

    private static List<Mat> ReadAll(string video, out double fps)
    {
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        fps = capture.Fps > 0 ? capture.Fps : 10;
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

    private static void Write(string path, IEnumerable<Mat> frames, double fps)
    {
        var temp = path + ".tmp.avi";
        using (var writer = new VideoWriter(temp, FourCC.MJPG, fps, frames.First().Size()))
        {
            foreach (var frame in frames)
            {
                writer.Write(frame);
            }
        }
        File.Move(temp, path, overwrite: true);
    }
}
