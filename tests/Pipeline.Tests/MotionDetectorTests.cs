using Edge.Tests;
using OpenCvSharp;

namespace Edge.Pipeline.Tests;

public sealed class MotionDetectorTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public void Detect_VtestWalkers_BoxesCoverThePeopleHogFinds()
    {
        using var capture = new VideoCapture(TestData.Vtest);
        using var motion = new MotionDetector(minAreaPx: 600, mergeGapPx: 8);
        using var hog = new HOGDescriptor();
        hog.SetSVMDetector(HOGDescriptor.GetDefaultPeopleDetector());
        using var frame = new Mat();
        var (people, covered, boxes, confirmed) = (0, 0, 0, 0);
        for (var index = 0; index <= 500 && capture.Read(frame); index++)
        {
            var regions = motion.Detect(frame);
            if (index % 100 != 0 || index == 0)
            {
                continue;
            }
            // HOG's box holds the person with a margin; its trimmed centre is what motion should cover.
            var found = hog.DetectMultiScale(frame, 0, new Size(8, 8), new Size(8, 8), 1.05)
                .Select(d => Rect.FromLTRB(d.X + d.Width / 5, d.Y + d.Height / 10, d.Right - d.Width / 5, d.Bottom - d.Height / 10)).ToList();
            Assert.NotEmpty(regions);
            Assert.All(regions, r => Assert.True(r.Width * r.Height >= 600 && r.Right <= frame.Width && r.Bottom <= frame.Height));
            people += found.Count;
            covered += found.Count(p => regions.Any(r => (r & p).Width * (r & p).Height >= 0.5 * p.Width * p.Height));
            boxes += regions.Count;
            confirmed += regions.Count(r => found.Any(p => MotionDetector.Iou(r, p) >= 0.3));
            output.WriteLine($"frame {index}: {regions.Count} motion boxes, {found.Count} HOG people");
        }
        output.WriteLine($"HOG people covered by motion: {covered}/{people}; motion boxes matching a HOG person: {confirmed}/{boxes}");
        Assert.True(people >= 8, $"HOG found only {people} people");
        Assert.True(covered >= 0.7 * people, $"motion covers {covered} of {people} people HOG finds");
        Assert.True(confirmed >= 0.2 * boxes, $"only {confirmed} of {boxes} motion boxes match a HOG person");
    }

    [Fact]
    public void Detect_StaticRepeatedFrame_NoRegions()
    {
        using var capture = new VideoCapture(TestData.VtestShort);
        using var frame = new Mat();
        Assert.True(capture.Read(frame));
        using var motion = new MotionDetector(minAreaPx: 600, mergeGapPx: 8);
        var counts = Enumerable.Range(0, 30).Select(_ => motion.Detect(frame).Count).ToList();
        Assert.All(counts, c => Assert.Equal(0, c));
        Assert.True(motion.IsStill(new Rect(0, 0, frame.Width, frame.Height)));
    }

    public static TheoryData<Rect[], int, Rect[]> MergeCases => new()
    {
        { [new(0, 0, 10, 10), new(5, 5, 10, 10)], 0, [new(0, 0, 15, 15)] },
        { [new(0, 0, 10, 10), new(15, 0, 10, 10)], 8, [new(0, 0, 25, 10)] },
        { [new(0, 0, 10, 10), new(30, 0, 20, 20)], 8, [new(30, 0, 20, 20), new(0, 0, 10, 10)] },
        { [new(0, 0, 10, 10), new(14, 0, 10, 10), new(28, 0, 10, 10)], 4, [new(0, 0, 38, 10)] },
    };

    [Theory]
    [MemberData(nameof(MergeCases))]
    public void Merge_OverlappingOrNearBoxes_OneBoxLargestFirst(Rect[] boxes, int gap, Rect[] expected) =>
        Assert.Equal(expected, MotionDetector.Merge([.. boxes], gap));

    public static TheoryData<Rect, Rect> SquareCases => new()
    {
        { new Rect(100, 100, 40, 100), new Rect(55, 85, 130, 130) },
        { new Rect(0, 0, 40, 100), new Rect(0, 0, 130, 130) },
        { new Rect(700, 500, 60, 70), new Rect(677, 485, 91, 91) },
        { new Rect(0, 0, 768, 576), new Rect(96, 0, 576, 576) },
    };

    [Theory]
    [MemberData(nameof(SquareCases))]
    public void SquareCrop_AnyBox_SquareWithMarginInsideTheFrame(Rect box, Rect expected) =>
        Assert.Equal(expected, ObjectDetector.SquareCrop(box, new Rect(0, 0, 768, 576), 0.15));
}
