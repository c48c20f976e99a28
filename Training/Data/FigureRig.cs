using Edge.Models;
using OpenCvSharp;

namespace Edge.Training.Data;

/// <summary>
/// Joint angles in radians. Limb angles are measured from straight down, positive towards the facing direction;
/// elbow and knee angles are bends relative to the upper limb (knees bend backwards). Tilt turns the whole body
/// about the feet (a fall).
/// </summary>
internal readonly record struct Pose(double ShoulderNear, double ElbowNear, double ShoulderFar, double ElbowFar,
    double HipNear, double KneeNear, double HipFar, double KneeFar, double Bob = 0, double Tilt = 0);

/// <summary>One gait: amplitudes drawn once per figure, the same distribution for walking and running.</summary>
internal sealed record Gait(double Hip, double Knee, double Shoulder, double Elbow)
{
    public static Gait Draw(Random r) => new(r.Uniform(0.3, 0.6), r.Uniform(0.3, 0.9), r.Uniform(0.25, 0.55), r.Uniform(0.2, 1.0));

    public Pose At(double phase) => new(
        -Shoulder * Math.Sin(phase), Elbow + 0.2 * Math.Sin(phase), Shoulder * Math.Sin(phase), Elbow - 0.2 * Math.Sin(phase),
        Hip * Math.Sin(phase), 0.1 + Knee * (0.5 + 0.5 * Math.Sin(phase - 1.3)),
        -Hip * Math.Sin(phase), 0.1 + Knee * (0.5 + 0.5 * Math.Sin(phase + Math.PI - 1.3)),
        Bob: 0.015 * Math.Cos(2 * phase));
}

/// <summary>A raised arm whose forearm swings; standing legs. Stand draws its static pose from these frames too.</summary>
internal sealed record Wave(double Raise, double ElbowCentre, double ElbowSwing, bool BothArms, double OtherShoulder, double Stance)
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

/// <summary>
/// Limb lengths and colours of one procedurally drawn person (head, torso, upper and lower arms and legs as thick
/// anti-aliased OpenCV lines), shared by the activity clips and the multi-person scenes.
/// </summary>
internal sealed record Figure(double Height, Scalar Shirt, Scalar Trousers, Scalar Skin, int Limb, int Torso)
{
    private static readonly Scalar[] s_skins = [new(80, 110, 160), new(120, 160, 210), new(60, 80, 110), new(150, 190, 230), new(90, 130, 190)];

    public static Figure Draw(Random r, double height) => new(height,
        new Scalar(r.Next(256), r.Next(256), r.Next(256)), new Scalar(r.Next(200), r.Next(200), r.Next(200)), s_skins[r.Next(s_skins.Length)],
        Math.Max(3, (int)(0.07 * height)), Math.Max(5, (int)(0.14 * height)));

    /// <summary>The same person at another height (nearer or farther from the camera): limbs and strokes scale with it.</summary>
    public Figure AtHeight(double height) => this with
    {
        Height = height,
        Limb = Math.Max(3, (int)(0.07 * height)),
        Torso = Math.Max(5, (int)(0.14 * height)),
    };

    /// <summary>
    /// Draws the figure standing at <paramref name="x"/> on the ground line <paramref name="ground"/>, facing
    /// <paramref name="direction"/> (+1 right, -1 left). With <paramref name="solid"/> every part takes that colour
    /// (a mask of the person's pixels).
    /// </summary>
    public void Draw(Mat frame, Pose pose, double x, double ground, int direction, Scalar? solid = null)
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
        Scalar Colour(Scalar c) => solid ?? c;
        var far = 0.65;
        Line(frame, P(hip), P(kneeFar), P(ankleFar), Colour(Shade(Trousers, far)), Limb);
        Line(frame, P(shoulder), P(elbowFar), P(wristFar), Colour(Shade(Shirt, far)), Limb);
        Cv2.Line(frame, P(hip), P(neck), Colour(Shirt), Torso, LineTypes.AntiAlias);
        Line(frame, P(hip), P(kneeNear), P(ankleNear), Colour(Trousers), Limb);
        Cv2.Circle(frame, P(headCentre), (int)Math.Round(head), Colour(Skin), -1, LineTypes.AntiAlias);
        Line(frame, P(shoulder), P(elbowNear), P(wristNear), Colour(Shirt), Limb);
    }

    private static Scalar Shade(Scalar colour, double factor) => new(colour.Val0 * factor, colour.Val1 * factor, colour.Val2 * factor);

    private static void Line(Mat frame, Point a, Point b, Point c, Scalar colour, int thickness)
    {
        Cv2.Line(frame, a, b, colour, thickness, LineTypes.AntiAlias);
        Cv2.Line(frame, b, c, colour, thickness, LineTypes.AntiAlias);
    }
}

/// <summary>Backgrounds from real footage, shared by the generators.</summary>
internal static class Footage
{
    /// <summary>
    /// Decodes every frame of <paramref name="video"/> at half size (at least <paramref name="width"/>×<paramref name="height"/>).
    /// The caller owns the Mats.
    /// </summary>
    public static List<Mat> Read(string video, int width, int height)
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
            Cv2.Resize(frame, small, new Size(Math.Max(width, frame.Width / 2), Math.Max(height, frame.Height / 2)), interpolation: InterpolationFlags.Area);
        }
        if (frames.Count == 0)
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        return frames;
    }

    /// <summary>Frames in the video, counted by decoding (container headers can be wrong).</summary>
    public static int Count(string video)
    {
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        var count = 0;
        while (capture.Grab())
        {
            count++;
        }
        return count > 0 ? count : throw new TrainingDataException($"cannot decode {video}");
    }

    /// <summary>
    /// The chosen frames (0-based indices) of <paramref name="video"/>, decoded at half size like <see cref="Read"/>; only
    /// those are kept, so a full-size generator does not hold the whole footage. The caller owns the Mats.
    /// </summary>
    public static Dictionary<int, Mat> ReadFrames(string video, IReadOnlySet<int> indices, int width, int height)
    {
        using var capture = new VideoCapture(video);
        if (!capture.IsOpened())
        {
            throw new TrainingDataException($"cannot decode {video}");
        }
        var frames = new Dictionary<int, Mat>();
        using var frame = new Mat();
        try
        {
            for (var index = 0; frames.Count < indices.Count && capture.Grab(); index++)
            {
                if (!indices.Contains(index) || !capture.Retrieve(frame))
                {
                    continue;
                }
                var small = new Mat();
                frames[index] = small;
                Cv2.Resize(frame, small, new Size(Math.Max(width, frame.Width / 2), Math.Max(height, frame.Height / 2)), interpolation: InterpolationFlags.Area);
            }
            if (frames.Count < indices.Count)
            {
                throw new TrainingDataException($"cannot decode frames {string.Join(", ", indices.Where(i => !frames.ContainsKey(i)).Order())} of {video}");
            }
            return frames;
        }
        catch
        {
            foreach (var mat in frames.Values)
            {
                mat.Dispose();
            }
            throw;
        }
    }

    /// <summary>
    /// A random crop of one footage frame, resized and maybe mirrored: the camera holds still, so every change between
    /// frames is a figure's. The caller owns the result.
    /// </summary>
    public static Mat Backdrop(Random r, Mat source, int width, int height)
    {
        var size = source.Size();
        var cropWidth = (int)(size.Width * r.Uniform(0.55, 1.0));
        var cropHeight = Math.Min(size.Height, (int)(cropWidth * height / (double)width));
        var crop = new Rect(r.Next(size.Width - cropWidth + 1), r.Next(size.Height - cropHeight + 1), cropWidth, cropHeight);
        var backdrop = new Mat();
        using var region = new Mat(source, crop);
        Cv2.Resize(region, backdrop, new Size(width, height), interpolation: InterpolationFlags.Area);
        if (r.Next(2) == 0)
        {
            Cv2.Flip(backdrop, backdrop, FlipMode.Y);
        }
        return backdrop;
    }
}

internal static class RandomExtensions
{
    public static double Uniform(this Random r, double low, double high) => low + (high - low) * r.NextDouble();
}
