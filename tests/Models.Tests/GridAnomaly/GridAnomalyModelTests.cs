using Edge.Models.GridAnomaly;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Models.Tests.GridAnomaly;

/// <summary>The default anomaly model on small synthetic grids: learning, refusal, bounded memory, ONNX parity, where.</summary>
public sealed class GridAnomalyModelTests : IDisposable
{
    private static readonly GridDescription s_grid = new("grid", 8, 6, 6);
    private static readonly GridAnomalyOptions s_options = new(ProjectedChannels: 4, Neighbourhood: 1, MemoryPerCell: 8, OwnBufferPerCell: 32,
        Steps: 3, TopK: 4, BlockFrames: 20, HeldOutEvery: 4, MaxHeldOutFrames: 60);
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 1 };
    private readonly string _folder = TestData.NewTempFolder();

    /// <summary>Normal footage: every cell drifts slowly around its own pattern, with noise.</summary>
    private static List<float[]> Normal(int frames, int seed)
    {
        var random = new Random(seed);
        var list = new List<float[]>();
        for (var t = 0; t < frames; t++)
        {
            var grid = new float[s_grid.Size];
            for (var c = 0; c < s_grid.Height * s_grid.Width; c++)
            {
                for (var k = 0; k < s_grid.Channels; k++)
                {
                    grid[c * s_grid.Channels + k] = (float)(Math.Sin(c + k + t * 0.05) + 0.3 * random.NextDouble());
                }
            }
            list.Add(grid);
        }
        return list;
    }

    private static GridAnomalyParameters Learn(List<float[]> frames)
    {
        var learner = new GridAnomalyLearner(s_grid, s_options);
        frames.ForEach(f => learner.Add(f));
        return learner.Learn();
    }

    [Fact]
    public void Learn_NormalFootage_CalibratesAndScoresAnomaliesAboveNormal()
    {
        var p = Learn(Normal(240, 1));
        Assert.True(p.Calibration.Windows >= 20);
        Assert.True(p.Calibration.Threshold > p.Calibration.Mean);
        var scorer = new GridAnomalyScorer(p);
        var test = Normal(40, 2);
        double Score(List<float[]> frames, int end) => p.Calibration.Relative(scorer.Score(frames.GetRange(end - s_options.Steps, s_options.Steps + 1).SelectMany(f => f).ToArray()).Raw);
        var normal = Enumerable.Range(10, 20).Select(e => Score(test, e)).ToArray();
        // A local anomaly: one cell's features jump far from anything normal.
        var local = test.Select(f => f.ToArray()).ToList();
        for (var t = 20; t < 40; t++)
        {
            for (var k = 0; k < s_grid.Channels; k++)
            {
                local[t][14 * s_grid.Channels + k] += 6;
            }
        }
        var (raw, _, cells) = scorer.Score(local.GetRange(26, 4).SelectMany(f => f).ToArray());
        Assert.True(p.Calibration.Relative(raw) > normal.Max() + 1, $"local anomaly {p.Calibration.Relative(raw)}, normal max {normal.Max()}");
        // The peak is the changed cell (2, 2) or a neighbour whose pooled feature it enters.
        var peak = Array.IndexOf(cells, cells.Max());
        Assert.True(Math.Abs(peak / 6 - 2) <= 1 && Math.Abs(peak % 6 - 2) <= 1, $"peak cell {peak}");
        // A frozen feed: nothing changes at all.
        var frozen = Enumerable.Repeat(test[20], 4).SelectMany(f => f).ToArray();
        Assert.True(p.Calibration.Relative(scorer.Score(frozen).Raw) > normal.Max() + 1);
    }

    [Fact]
    public void Learn_TooShortOrUniform_Refuses()
    {
        var shortError = Assert.Throws<TrainingDataException>(() => Learn(Normal(50, 1)));
        Assert.Contains("too short", shortError.Message);
        var still = Enumerable.Repeat(Normal(1, 1)[0], 240).ToList();
        var uniformError = Assert.Throws<TrainingDataException>(() => Learn(still));
        Assert.Contains("too uniform", uniformError.Message);
    }

    [Fact]
    public void Learn_LongFootage_KeepsMemoryAndHeldOutBounded()
    {
        var learner = new GridAnomalyLearner(s_grid, s_options);
        var frames = Normal(1200, 3);
        frames.ForEach(f => learner.Add(f));
        var p = learner.Learn();
        Assert.Equal(s_grid.Height * s_grid.Width * s_options.MemoryPerCell * s_options.ProjectedChannels, p.Memory.Length);
        Assert.True(p.Calibration.Windows <= s_options.MaxHeldOutFrames, $"{p.Calibration.Windows} calibration windows");
        Assert.Equal(1200, p.FramesLearned);
    }

    [Fact]
    public void Onnx_MatchesReference_AndServedModelChecksItsGrid()
    {
        var p = Learn(Normal(240, 4));
        var path = Path.Combine(_folder, "anomaly.onnx");
        var frameManifest = new ModelManifest
        {
            Name = "frame", Kind = ModelManifest.FrameEmbeddingKind, InputName = "frames", InputWidth = 224, InputHeight = 224,
            InputLayout = "NHWC", ChannelOrder = "BGR", InputElementType = "uint8", OutputNames = ["embedding", "grid"], Grid = s_grid,
        };
        var manifest = GridAnomalyGraph.Save(p, path, frameManifest, "test");
        Assert.Null(OnnxChecker.Check(path));
        Assert.Equal(ModelManifest.GridAnomalyKind, ModelManifest.Load(ModelManifest.PathFor(path)).Kind);
        Assert.Equal(manifest.Anomaly, ModelManifest.Load(ModelManifest.PathFor(path)).Anomaly);
        using var model = GridAnomalyModel.Open(path, s_grid, s_cpu, NullLogger.Instance);
        Assert.Equal(s_options.Steps + 1, model.InputFrames);
        var scorer = new GridAnomalyScorer(p);
        var test = Normal(30, 5);
        test[20] = test[20].Select(v => v + 3f).ToArray();
        var windows = Enumerable.Range(0, 6).Select(i => test.GetRange(16 + i, 4).SelectMany(f => f).ToArray()).ToList();
        var result = model.Run([.. windows.SelectMany(w => w)], windows.Count);
        for (var i = 0; i < windows.Count; i++)
        {
            var (raw, _, cells) = scorer.Score(windows[i]);
            Assert.True(Math.Abs(raw - result.Scores[i]) <= 1e-3 * Math.Max(1, Math.Abs(raw)), $"window {i}: reference {raw}, onnx {result.Scores[i]}");
            for (var c = 0; c < cells.Length; c++)
            {
                Assert.True(Math.Abs(cells[c] - result.Cells[i * cells.Length + c]) <= 1e-3 * Math.Max(1, Math.Abs(cells[c])), $"window {i} cell {c}");
            }
        }
        Assert.Throws<ModelException>(() => GridAnomalyModel.Open(path, null, s_cpu, NullLogger.Instance));
        Assert.Throws<ModelException>(() => GridAnomalyModel.Open(path, s_grid with { Channels = 16 }, s_cpu, NullLogger.Instance));
    }

    [Fact]
    public void Region_MapsCellsBackToFramePixels()
    {
        var cells = new float[14 * 14];
        cells[3 * 14 + 5] = 3f;
        cells[3 * 14 + 6] = 2f;
        cells[4 * 14 + 6] = 1.6f;
        cells[10 * 14 + 10] = 1.2f; // a second, weaker region: not the one reported
        var box = AnomalyMap.Region(cells, 14, 14, 768, 576);
        Assert.Equal(new Rect(5 * 768 / 14, 3 * 576 / 14, 7 * 768 / 14 - 5 * 768 / 14, 5 * 576 / 14 - 3 * 576 / 14), box);
        Assert.Null(AnomalyMap.Region(new float[196], 14, 14, 768, 576));
        using var frame = new Mat(576, 768, MatType.CV_8UC3, Scalar.All(100));
        AnomalyMap.Overlay(frame, cells, 14, 14);
        var hot = frame.At<Vec3b>(3 * 576 / 14 + 20, 5 * 768 / 14 + 27);
        var cold = frame.At<Vec3b>(500, 100);
        Assert.Equal(new Vec3b(100, 100, 100), cold);
        Assert.NotEqual(new Vec3b(100, 100, 100), hot);
    }

    [Fact]
    public void Manifest_WithoutGridFields_StillLoads()
    {
        var path = Path.Combine(_folder, "old.json");
        File.WriteAllText(path, """{"name":"old","kind":"frame-embedding","inputName":"frames","inputWidth":224,"inputHeight":224,"inputLayout":"NHWC","channelOrder":"BGR","inputElementType":"uint8","outputNames":["embedding"],"embeddingSize":512}""");
        var manifest = ModelManifest.Load(path);
        Assert.Null(manifest.Grid);
        Assert.Null(manifest.GridAnomaly);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
