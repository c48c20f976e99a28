using Edge.Pipeline.Outputs;
using Edge.Pipeline.Zones;
using OpenCvSharp;

namespace Edge.Pipeline.Tests.Outputs;

public sealed class FrameAnnotationTests
{
    [Fact]
    public void Draw_ZonesAndLines_OutlinedInTheirColoursWithTheirCounts()
    {
        var layout = ZoneLayout.Create(new ZoneLayoutOptions
        {
            Zones = [new ZoneOptions { Name = "dock", Points = [[100, 100], [300, 100], [300, 300], [100, 300]] }],
            Lines = [new LineOptions { Name = "door", Points = [[500, 50], [500, 350]] }],
        }, 640, 400);
        var counts = new ZoneCounters([new ZoneCount("dock", 2, 7, [])], [new LineCount("door", 5, 3)]);
        using var canvas = new Mat(400, 640, MatType.CV_8UC3, Scalar.Black);
        using var blank = canvas.Clone();

        FrameAnnotation.Draw(canvas, new FrameResult("cam", 1, 100, [], 0, 0) { ZoneLayout = layout, ZoneCounts = counts });
        FrameAnnotation.Draw(blank, new FrameResult("cam", 1, 100, [], 0, 0));

        Assert.Equal(new Vec3b(255, 255, 0), canvas.At<Vec3b>(200, 100));    // the dock's left edge
        Assert.Equal(new Vec3b(255, 255, 0), canvas.At<Vec3b>(300, 200));    // its bottom edge
        Assert.Equal(new Vec3b(0, 220, 255), canvas.At<Vec3b>(200, 500));    // the door line
        Assert.Equal(new Vec3b(0, 0, 0), canvas.At<Vec3b>(200, 200));        // inside the dock: not filled
        // Labels beside them (pixels in the label's colour near where it is written), none without a layout.
        Assert.True(Cv2.CountNonZero(canvas[new Rect(104, 104, 190, 20)].CvtColor(ColorConversionCodes.BGR2GRAY)) > 50, "the dock's label");
        Assert.True(Cv2.CountNonZero(canvas[new Rect(506, 185, 130, 20)].CvtColor(ColorConversionCodes.BGR2GRAY)) > 50, "the door's counts");
        Assert.Equal(0, Cv2.CountNonZero(blank[new Rect(100, 100, 540, 260)].CvtColor(ColorConversionCodes.BGR2GRAY)));
    }
}
