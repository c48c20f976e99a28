using Edge.Pipeline.Events;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Pipeline.Tests.Events;

public sealed class MjpegAviWriterTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public void Write_JpegFrames_OpenCvReadsThemBackInOrderAtTheRate()
    {
        var path = Path.Combine(_folder, "clip.avi");
        var levels = new[] { 20, 60, 100, 140, 180, 220, 250 };
        using (var writer = new MjpegAviWriter(path, 96, 64, 12.5))
        {
            foreach (var level in levels)
            {
                using var frame = new Mat(64, 96, MatType.CV_8UC3, Scalar.All(level));
                // Odd-sized and even-sized JPEGs both: chunks are padded to even lengths.
                Cv2.PutText(frame, level.ToString(System.Globalization.CultureInfo.InvariantCulture), new Point(5, 40), HersheyFonts.HersheySimplex, 0.8, Scalar.All(255 - level));
                Cv2.ImEncode(".jpg", frame, out var jpeg);
                writer.Write(jpeg);
            }
            Assert.Equal(levels.Length, writer.Frames);
        }

        using var capture = new VideoCapture(path);
        Assert.True(capture.IsOpened());
        Assert.Equal(12.5, capture.Fps, 3);
        Assert.Equal(levels.Length, (int)capture.Get(VideoCaptureProperties.FrameCount));
        using var read = new Mat();
        var seen = new List<double>();
        while (capture.Read(read))
        {
            Assert.Equal(new Size(96, 64), read.Size());
            seen.Add(read[new Rect(60, 0, 36, 20)].Mean().Val0); // a corner the text does not reach
        }
        Assert.Equal(levels.Length, seen.Count);
        Assert.All(levels.Zip(seen), p => Assert.InRange(p.Second, p.First - 4, p.First + 4));
    }

    [Fact]
    public void Dispose_WithoutFrames_AnEmptyButWholeFile()
    {
        var path = Path.Combine(_folder, "empty.avi");
        new MjpegAviWriter(path, 32, 32, 10).Dispose();
        var bytes = File.ReadAllBytes(path);
        Assert.Equal("RIFF", System.Text.Encoding.ASCII.GetString(bytes, 0, 4));
        Assert.Equal(bytes.Length - 8, BitConverter.ToInt32(bytes, 4));
        Assert.Throws<IOException>(() => new MjpegAviWriter(path, 32, 32, 10)); // never overwrites
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
