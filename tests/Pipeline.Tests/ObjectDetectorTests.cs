using Edge.Capture;
using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;

namespace Edge.Pipeline.Tests;

/// <summary>
/// The object stage in the pipeline, on 12 frames of people walking in vtest followed by 12 copies of the last one
/// (nothing moves), with the real frame model and the default head; at most 3 crops a frame keeps it quick.
/// </summary>
public sealed class ObjectDetectorTests : IDisposable
{
    private const int Moving = 12;
    private const int Still = 12;
    private const int MaxObjects = 3;
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };
    private readonly string _folder = TestData.NewTempFolder();

    public ObjectDetectorTests()
    {
        using var capture = new VideoCapture(TestData.Vtest);
        capture.Set(VideoCaptureProperties.PosFrames, 100);
        using var frame = new Mat();
        for (var i = 0; i < Moving + Still; i++)
        {
            if (i < Moving)
            {
                Assert.True(capture.Read(frame));
            }
            Cv2.ImWrite(Path.Combine(_folder, $"{i:D3}.png"), frame);
        }
    }

    [Fact]
    public async Task Motion_FramesWithoutMotionSkipTheCropCnn()
    {
        var (report, results) = await RunAsync(new ObjectOptions { Gating = ObjectGating.Motion, MaxObjects = MaxObjects });
        var regions = MotionRegions().Select(r => r.Count).ToList();

        var stats = report.Objects!;
        var still = regions.Count(c => c == 0);
        Assert.InRange(still, Still - 4, Still + 1);
        Assert.Equal(((long)(Moving + Still), Moving + Still - (long)still, (long)still), (stats.Frames, stats.Runs, stats.Skipped));
        Assert.Equal(regions.Sum(c => Math.Min(c, MaxObjects)), stats.Crops);
        Assert.Equal(still, report.Stages.Single(s => s.Name == "objects").Skipped);
        Assert.All(results.Where((_, i) => regions[i] == 0), r => Assert.Empty(r.Objects));
        // People walk through these frames: most moving frames have a person, with a box where motion was.
        Assert.True(results.Take(Moving).Count(r => r.Objects.Any(o => o.Label == "person")) >= Moving - 4);
        Assert.All(results.SelectMany(r => r.Objects), o => Assert.InRange(o.Confidence, 0.5f, 1f));

        // Each object carries its crop's embedding (what the tracker compares appearance by): the frame model's
        // embedding of the squared crop around its box.
        var (index, first) = results.Select((r, i) => (i, r.Objects.FirstOrDefault())).First(p => p.Item2 is not null);
        using var image = Cv2.ImRead(Directory.GetFiles(_folder).Order(StringComparer.Ordinal).ElementAt(index));
        var box = Rect.FromLTRB(first!.BoxXyxy[0], first.BoxXyxy[1], first.BoxXyxy[2], first.BoxXyxy[3]);
        using var crop = new Mat(image, ObjectDetector.SquareCrop(box, new Rect(0, 0, image.Width, image.Height), new ObjectOptions().Margin));
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 1, NullLogger.Instance);
        var expected = embedder.Embed([crop]).ToArray();
        Assert.Equal(expected.Length, first.Embedding!.Length);
        Assert.All(expected.Zip(first.Embedding), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-3f, $"{p.Second} vs {p.First}"));
        Assert.All(results.SelectMany(r => r.Objects), o => Assert.Equal(embedder.EmbeddingSize, o.Embedding!.Length));
    }

    [Fact]
    public async Task EveryNth_RunsOnEveryNthFrameAndCarriesItsObjects()
    {
        var (report, results) = await RunAsync(new ObjectOptions { Gating = ObjectGating.EveryNth, EveryNthFrame = 4, MaxObjects = MaxObjects });
        var regions = MotionRegions().Select(r => r.Count).ToList();

        var due = Enumerable.Range(0, Moving + Still).Where(i => i % 4 == 0).ToList();
        var runs = due.Count(i => regions[i] > 0);
        Assert.Equal(((long)(Moving + Still), (long)runs, Moving + Still - (long)runs), (report.Objects!.Frames, report.Objects.Runs, report.Objects.Skipped));
        Assert.Equal(due.Sum(i => Math.Min(regions[i], MaxObjects)), report.Objects.Crops);
        for (var i = 0; i < results.Count; i++)
        {
            Assert.Same(results[i - i % 4].Objects, results[i].Objects);
        }
        Assert.NotEmpty(results[5].Objects);
        Assert.All(results, r => Assert.True(r.Objects.Count <= MaxObjects));
    }

    [Fact]
    public async Task Always_KeepsClassifyingTheLatestObjectsWhenNothingMoves()
    {
        var (report, results) = await RunAsync(new ObjectOptions { Gating = ObjectGating.Always, MaxObjects = MaxObjects });
        var regions = MotionRegions();

        var first = regions.FindIndex(r => r.Count > 0);
        Assert.Equal(((long)(Moving + Still), Moving + Still - (long)first, (long)first), (report.Objects!.Frames, report.Objects.Runs, report.Objects.Skipped));
        var lastRegions = regions.Last(r => r.Count > 0).Take(MaxObjects).Select(r => new[] { r.Left, r.Top, r.Right, r.Bottom }).ToList();
        Assert.NotEmpty(results[^1].Objects);
        Assert.All(results[^1].Objects, o => Assert.Contains(o.BoxXyxy, lastRegions));
    }

    [Fact]
    public async Task Motion_GridHead_ClassifiesTheRegionsFromTheFramesOwnGrid()
    {
        var (report, results) = await RunAsync(new ObjectOptions { Gating = ObjectGating.Motion, MaxObjects = MaxObjects }, TestData.ObjectGridHead);
        var (_, byCrops) = await RunAsync(new ObjectOptions { Gating = ObjectGating.Motion, MaxObjects = MaxObjects });

        var stats = report.Objects!;
        Assert.Equal(EmbeddingClassifier.GridFeatures, stats.Features);
        Assert.Equal(MotionRegions().Sum(r => Math.Min(r.Count, MaxObjects)), stats.Crops);
        // The same regions as the head over crops, and nearly the same verdicts on them.
        var grid = results.SelectMany((r, i) => r.Objects.Select(o => (i, string.Join(',', o.BoxXyxy), o.Label))).ToHashSet();
        var crops = byCrops.SelectMany((r, i) => r.Objects.Select(o => (i, string.Join(',', o.BoxXyxy), o.Label))).ToHashSet();
        Assert.True(crops.Count >= Moving, $"{crops.Count} people found over crops");
        Assert.True(grid.Intersect(crops).Count() >= 0.85 * Math.Max(grid.Count, crops.Count), $"{grid.Intersect(crops).Count()} of {grid.Count} (grid) and {crops.Count} (crops) agree");

        // Each object's appearance is its frame's grid pooled under its box: the frame's own forward pass, no crop's.
        var (index, first) = results.Select((r, i) => (i, r.Objects.FirstOrDefault())).First(p => p.Item2 is not null);
        using var image = Cv2.ImRead(Directory.GetFiles(_folder).Order(StringComparer.Ordinal).ElementAt(index));
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 1, NullLogger.Instance);
        embedder.EmbedWithGrid([image], out var grids);
        var expected = new float[embedder.Grid!.Channels];
        RegionPooling.Pool(grids, embedder.Grid, image.Width, image.Height, first!.BoxXyxy[0], first.BoxXyxy[1], first.BoxXyxy[2], first.BoxXyxy[3], expected);
        Assert.Equal(expected.Length, first.Embedding!.Length);
        Assert.All(expected.Zip(first.Embedding), p => Assert.True(Math.Abs(p.First - p.Second) < 1e-3f, $"{p.Second} vs {p.First}"));
    }

    /// <summary>Motion regions per frame from a detector of its own, the reference for the stage's counts.</summary>
    private List<IReadOnlyList<Rect>> MotionRegions()
    {
        using var motion = new MotionDetector(600, 8);
        return [.. Directory.GetFiles(_folder).Order(StringComparer.Ordinal).Select(f =>
        {
            using var image = Cv2.ImRead(f);
            return motion.Detect(image);
        })];
    }

    private async Task<(PipelineReport, List<FrameResult>)> RunAsync(ObjectOptions options, string? headPath = null)
    {
        using var source = FrameSources.Open(_folder, new CaptureOptions());
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 8, NullLogger.Instance);
        using var head = EmbeddingClassifier.Open(headPath ?? TestData.ObjectHead, embedder.EmbeddingSize, embedder.Grid, s_cpu, NullLogger.Instance);
        using var objects = new ObjectDetector(embedder, head, options);
        var sink = new FramePipelineTests.CollectingSink();
        using var pipeline = new FramePipeline(source, embedder, [sink], new PipelineOptions { BatchSize = 8 }, NullLogger.Instance, objects: objects);
        var report = await pipeline.RunAsync(CancellationToken.None);
        Assert.Equal(Moving + Still, sink.Results.Count);
        Assert.Equal(0, pipeline.Pool.Outstanding);
        return (report, sink.Results);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
