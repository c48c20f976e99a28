using Edge.Capture;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Capture.Tests;

/// <summary>What every frame source must do, run against each implementation with real decoded pixels.</summary>
public abstract class FrameSourceContractTests
{
    protected abstract IFrameSource Open(CaptureOptions options);

    protected abstract int ExpectedFrames { get; }

    [Fact]
    public void Read_WholeSource_EveryFrameOnceInOrderWithPixels()
    {
        using var source = Open(new CaptureOptions());
        using var pool = new FramePool(3);
        var indices = new List<long>();
        var timestamps = new List<double>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                indices.Add(frame.Index);
                timestamps.Add(frame.TimestampMs);
                Assert.Equal(source.StreamId, frame.StreamId);
                Assert.Equal(MatType.CV_8UC3, frame.Image.Type());
                Assert.Equal(new Size(source.Info.Width, source.Info.Height), frame.Image.Size());
                Assert.True(Cv2.Mean(frame.Image).Val0 > 5, "decoded pixels should not be black");
            }
        }
        Assert.Equal(Enumerable.Range(0, ExpectedFrames).Select(i => (long)i), indices);
        Assert.True(timestamps.Zip(timestamps.Skip(1)).All(p => p.Second > p.First), "timestamps must increase");
        Assert.Equal(0, pool.Outstanding);
        Assert.Equal(1, pool.PeakOutstanding);
    }

    [Fact]
    public void Read_MaxFramesAndStride_KeepsEveryNthUpToTheLimit()
    {
        using var source = Open(new CaptureOptions { FrameStride = 3, MaxFrames = 4 });
        using var pool = new FramePool(2);
        var indices = new List<long>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                indices.Add(frame.Index);
            }
        }
        Assert.Equal([0L, 3, 6, 9], indices);
    }

    [Fact]
    public void Read_Resize_FramesHaveTheRequestedSize()
    {
        using var source = Open(new CaptureOptions { ResizeWidth = 320, ResizeHeight = 240, MaxFrames = 2 });
        using var pool = new FramePool(2);
        Assert.Equal((320, 240), (source.Info.Width, source.Info.Height));
        using var frame = source.Read(pool, CancellationToken.None)!;
        Assert.Equal(new Size(320, 240), frame.Image.Size());
    }

    [Fact]
    public void Read_Cancelled_ThrowsAndReturnsTheLease()
    {
        using var source = Open(new CaptureOptions());
        using var pool = new FramePool(2);
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => source.Read(pool, cts.Token));
        Assert.Equal(0, pool.Outstanding);
    }
}

public sealed class VideoFileSourceTests : FrameSourceContractTests
{
    protected override IFrameSource Open(CaptureOptions options) => FrameSources.Open(TestData.VtestShort, options);

    protected override int ExpectedFrames => 50;

    [Fact]
    public void Open_ShortClip_ReportsContainerFacts()
    {
        using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions());
        Assert.Equal(new SourceInfo(SourceKind.File, TestData.VtestShort, false, 768, 576, 10, 50, "FFMPEG"), source.Info);
        Assert.Equal("vtest-50", source.StreamId);
    }

    [Fact]
    public void Read_File_TimestampsAreContainerTime()
    {
        using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions { MaxFrames = 5 });
        using var pool = new FramePool(1);
        var timestamps = new List<double>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            using (frame)
            {
                timestamps.Add(frame.TimestampMs);
            }
        }
        Assert.Equal([0, 100, 200, 300, 400], timestamps.Select(t => Math.Round(t)));
    }

    [Fact]
    public void Read_TargetFps_KeepsFramesByStride()
    {
        using var source = FrameSources.Open(TestData.VtestShort, new CaptureOptions { TargetFps = 5 });
        using var pool = new FramePool(1);
        var count = 0;
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            Assert.Equal(0, frame.Index % 2);
            frame.Dispose();
            count++;
        }
        Assert.Equal(25, count);
    }
}

public sealed class ImageFolderSourceTests : FrameSourceContractTests, IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    public ImageFolderSourceTests()
    {
        // Twelve real frames written as PNG under names whose ordinal order is the frame order.
        using var capture = new VideoCapture(TestData.VtestShort);
        using var image = new Mat();
        for (var i = 0; i < 12 && capture.Read(image); i++)
        {
            Cv2.ImWrite(Path.Combine(_folder, $"frame_{i:D3}.png"), image);
        }
        File.WriteAllText(Path.Combine(_folder, "notes.txt"), "not an image");
    }

    protected override IFrameSource Open(CaptureOptions options) => FrameSources.Open(_folder, options);

    protected override int ExpectedFrames => 12;

    [Fact]
    public void Read_CorruptImage_IsSkippedAndCounted()
    {
        // Indices stay file positions, so the corrupt file's position is the one missing.
        File.WriteAllBytes(Path.Combine(_folder, "frame_005b.jpg"), [1, 2, 3, 4, 5]);
        using var source = (ImageFolderSource)FrameSources.Open(_folder, new CaptureOptions());
        using var pool = new FramePool(1);
        var indices = new List<long>();
        while (source.Read(pool, CancellationToken.None) is { } frame)
        {
            indices.Add(frame.Index);
            frame.Dispose();
        }
        Assert.Equal(Enumerable.Range(0, 13).Where(i => i != 6).Select(i => (long)i), indices);
        Assert.Equal(1, source.Skipped);
        Assert.Equal(13, source.Info.FrameCount);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
