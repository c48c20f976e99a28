using Edge.Models;
using Edge.Tests;
using Edge.Training;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Training.Tests;

public sealed class EmbeddingWindowsTests : IDisposable
{
    private readonly string _folder = TestData.NewTempFolder();

    [Theory]
    [InlineData(10, 4, 1, 7)]
    [InlineData(10, 4, 3, 3)]
    [InlineData(10, 10, 5, 1)]
    [InlineData(3, 4, 1, 0)]
    public void Count_RowsLengthStride_IsTheNumberOfWholeWindows(int rows, int length, int stride, int expected)
    {
        var windows = new EmbeddingWindows(new float[rows * 2], rows, 2, length, stride);
        Assert.Equal(expected, windows.Count);
    }

    [Fact]
    public void Load_RealEmbeddings_WindowsAreTheFramesRows()
    {
        // Embeddings of 12 real vtest frames from the frame model, written as the pipeline writes them.
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 }, 4, NullLogger.Instance);
        using var capture = new VideoCapture(TestData.VtestShort);
        using var frame = new Mat();
        var path = Path.Combine(_folder, "embeddings.npy");
        var rows = new List<float[]>();
        using (var writer = new NpyFile.Writer(path, embedder.EmbeddingSize))
        {
            for (var i = 0; i < 12 && capture.Read(frame); i++)
            {
                var row = embedder.Embed([frame]).ToArray();
                writer.Append(row);
                rows.Add(row);
            }
        }

        var windows = EmbeddingWindows.Load(path, 512, length: 8, stride: 2);

        Assert.Equal(3, windows.Count);
        Assert.Equal(rows.Skip(4).Take(8).SelectMany(r => r), windows[2].ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => windows[3].Length);
        var error = Assert.Throws<InvalidDataException>(() => EmbeddingWindows.Load(path, 256, 8, 2));
        Assert.Contains("512-wide embeddings, the model expects 256", error.Message, StringComparison.Ordinal);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
