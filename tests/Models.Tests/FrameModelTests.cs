using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;

namespace Edge.Models.Tests;

/// <summary>The prepared frame model against the package's own two-model chain, on real frames.</summary>
public sealed class FrameModelTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly ModelOptions s_cpu = new() { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2 };

    [Fact]
    public void Prepare_Manifest_DescribesUint8NhwcInputAndSymbolicBatch()
    {
        var manifest = ModelManifest.Load(ModelManifest.PathFor(TestData.FrameModel));
        Assert.Equal(("frames", 224, 224, "NHWC", "BGR", "uint8", 512), (manifest.InputName, manifest.InputWidth,
            manifest.InputHeight, manifest.InputLayout, manifest.ChannelOrder, manifest.InputElementType, manifest.EmbeddingSize));
        using var session = new InferenceSession(TestData.FrameModel);
        var input = Assert.Single(session.InputMetadata);
        Assert.Equal([-1, 224, 224, 3], input.Value.Dimensions);
        Assert.Equal(TensorElementType.UInt8, input.Value.ElementDataType);
        Assert.Equal([-1, 512], session.OutputMetadata["embedding"].Dimensions);
    }

    [Fact]
    public void Embed_RealFrames_MatchesPackagePreprocessAndFeaturizer()
    {
        var frames = ReadFrames(TestData.VtestShort, [0, 20, 40]).Concat(ReadFrames(TestData.Cup, [100])).ToList();
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 4, NullLogger.Instance);
        var ours = embedder.Embed(frames).ToArray();

        using var preprocess = new InferenceSession(FrameModelBuilder.PreprocessPath);
        using var featurizer = new InferenceSession(FrameModelBuilder.FeaturizerPath);
        var maxDiff = 0f;
        for (var i = 0; i < frames.Count; i++)
        {
            var reference = ReferenceEmbedding(preprocess, featurizer, frames[i]);
            for (var j = 0; j < 512; j++)
            {
                maxDiff = Math.Max(maxDiff, Math.Abs(reference[j] - ours[i * 512 + j]));
            }
            Assert.True(reference.Max() > 0.1f, "reference embedding should not be empty");
        }
        Dispose(frames);
        output.WriteLine($"prepared model vs package chain: max abs difference {maxDiff}");
        Assert.True(maxDiff < 1e-3f, $"max abs difference {maxDiff}");
    }

    [Fact]
    public void Float16Copy_RealFrames_CloseToFp32AtHalfTheSize_ServedOnlyWhenAsked()
    {
        var folder = TestData.NewTempFolder();
        try
        {
            var fp32 = Path.Combine(folder, FrameModelBuilder.DefaultModelFile);
            File.Copy(TestData.FrameModel, fp32);
            File.Copy(ModelManifest.PathFor(TestData.FrameModel), ModelManifest.PathFor(fp32));
            var manifest = FrameModelBuilder.WriteFloat16(fp32);
            var fp16 = FrameModelBuilder.Float16PathFor(fp32);
            Assert.Equal("resnet18-frame-fp16", manifest.Name);
            Assert.InRange(new FileInfo(fp16).Length, new FileInfo(fp32).Length * 0.45, new FileInfo(fp32).Length * 0.55);
            Assert.False(File.Exists(fp16 + ".tmp"));

            var frames = ReadFrames(TestData.VtestShort, [0, 10, 20, 30, 40]).Concat(ReadFrames(TestData.Cup, [50, 100, 150])).ToList();
            using var full = FrameEmbedder.Open(fp32, s_cpu, 8, NullLogger.Instance);
            var embeddings = full.EmbedWithGrid(frames, out var gridSpan).ToArray();
            var grids = gridSpan.ToArray();
            // The copy takes the same uint8 frames and gives float outputs (the embedder checks both when it opens it).
            using var half = FrameEmbedder.Open(fp32, new ModelOptions { Provider = ExecutionProvider.Cpu, IntraOpThreads = 2, FramePrecision = FramePrecision.Fp16 }, 8, NullLogger.Instance);
            Assert.Equal("resnet18-frame-fp16", half.Manifest.Name);
            var halfEmbeddings = half.EmbedWithGrid(frames, out var halfGridSpan).ToArray();
            var halfGrids = halfGridSpan.ToArray();
            Dispose(frames);

            var embeddingError = RelativeL2(embeddings, halfEmbeddings);
            var gridError = RelativeL2(grids, halfGrids);
            var worstCosine = Enumerable.Range(0, 8).Min(i => Cosine(embeddings.AsSpan(i * 512, 512), halfEmbeddings.AsSpan(i * 512, 512)));
            output.WriteLine($"fp16 vs fp32 on 8 real frames: relative L2 error embedding {embeddingError:E2}, grid {gridError:E2}; worst cosine {worstCosine:F6}");
            Assert.True(embeddingError < 5e-3, $"embedding relative error {embeddingError}");
            Assert.True(gridError < 1e-2, $"grid relative error {gridError}");
            Assert.True(worstCosine > 0.9999, $"worst cosine {worstCosine}");

            // Auto on the CPU serves the fp32 model even with the copy beside it; Fp16 without a copy is a clear error.
            using var auto = FrameEmbedder.Open(fp32, s_cpu, 1, NullLogger.Instance);
            Assert.Equal("resnet18-frame", auto.Manifest.Name);
            File.Delete(fp16);
            var error = Assert.Throws<ModelException>(() => FrameEmbedder.Open(fp32, new ModelOptions { Provider = ExecutionProvider.Cpu, FramePrecision = FramePrecision.Fp16 }, 1, NullLogger.Instance));
            Assert.Equal(ModelError.NotFound, error.Error);
            Assert.Contains("edge models prepare", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static double RelativeL2(float[] reference, float[] other)
    {
        double difference = 0, norm = 0;
        for (var i = 0; i < reference.Length; i++)
        {
            difference += (reference[i] - other[i]) * (double)(reference[i] - other[i]);
            norm += reference[i] * (double)reference[i];
        }
        return Math.Sqrt(difference / norm);
    }

    private static double Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * (double)b[i];
            na += a[i] * (double)a[i];
            nb += b[i] * (double)b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }

    [Fact]
    public void Embed_Batch_EqualsOneAtATime()
    {
        var frames = ReadFrames(TestData.VtestShort, [0, 5, 10, 15, 20, 25, 30, 35]);
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 8, NullLogger.Instance);
        var batched = embedder.Embed(frames).ToArray();
        for (var i = 0; i < frames.Count; i++)
        {
            var single = embedder.Embed([frames[i]]).ToArray();
            var diff = single.Zip(batched.AsSpan(i * 512, 512).ToArray()).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(diff < 1e-4f, $"frame {i}: batch and single differ by {diff}");
        }
        Dispose(frames);
    }

    [Fact]
    public void Embed_ConsecutiveFramesAlikeOtherFootageNot()
    {
        var vtest = ReadFrames(TestData.VtestShort, [.. Enumerable.Range(10, 8)]);
        var cup = ReadFrames(TestData.Cup, [0, 60, 120, 180]);
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 8, NullLogger.Instance);
        var v = Rows(embedder.Embed(vtest).ToArray());
        var c = Rows(embedder.Embed(cup).ToArray());

        var consecutive = v.Zip(v.Skip(1)).Select(p => Cosine(p.First, p.Second)).ToList();
        var across = v.SelectMany(a => c.Select(b => Cosine(a, b))).ToList();
        output.WriteLine($"cosine: consecutive vtest min {consecutive.Min():0.000} mean {consecutive.Average():0.000}; vtest vs cup max {across.Max():0.000} mean {across.Average():0.000}");
        Assert.All(consecutive, s => Assert.True(s > 0.9, $"consecutive vtest frames: cosine {s}"));
        Assert.True(across.Max() < consecutive.Min() - 0.2, $"vtest vs cup: max cosine {across.Max()}, consecutive min {consecutive.Min()}");
        Dispose(vtest);
        Dispose(cup);
    }

    [Fact]
    public async Task EmbedWithGrid_GivesLayer3GridBesideTheSameEmbedding()
    {
        var manifest = ModelManifest.Load(ModelManifest.PathFor(TestData.FrameModel));
        Assert.Equal(new GridDescription("grid", 256, 14, 14, "layer3"), manifest.Grid);
        var frames = ReadFrames(TestData.VtestShort, [0, 25]);
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 2, NullLogger.Instance);
        Assert.Equal(manifest.Grid, embedder.Grid);
        var plain = embedder.Embed(frames).ToArray();
        var embeddings = embedder.EmbedWithGrid(frames, out var grids).ToArray();
        var grid = grids.ToArray();
        Assert.Equal(2 * 14 * 14 * 256, grid.Length);
        Assert.True(plain.Zip(embeddings).Max(p => Math.Abs(p.First - p.Second)) < 1e-5f);
        Assert.All(grid, v => Assert.True(v >= 0, "layer3 ends in a Relu"));
        Assert.True(grid.Count(v => v > 0) > grid.Length / 10, "the grid should not be empty");
        // The two frames differ where people walk, not everywhere: some cells change far more than others.
        var changes = Enumerable.Range(0, 196).Select(c => Enumerable.Range(0, 256).Sum(k => Math.Abs(grid[c * 256 + k] - grid[(196 + c) * 256 + k]))).Order().ToArray();
        Assert.True(changes[^1] > 3 * changes[98], $"largest cell change {changes[^1]}, median {changes[98]}");
        var features = await embedder.EmbedFeaturesAsync(frames, CancellationToken.None);
        Assert.Equal(grid, features.Grids);
        Dispose(frames);
    }

    [Fact]
    public void Embed_WrongImageType_IsRejected()
    {
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, s_cpu, 2, NullLogger.Instance);
        using var gray = new Mat(100, 100, MatType.CV_8UC1, Scalar.All(0));
        Assert.Throws<ArgumentException>(() => embedder.Embed([gray]));
        Assert.Throws<ArgumentOutOfRangeException>(() => embedder.Embed([]));
    }

    /// <summary>The package's own chain: RGB planar float 0–255 → ResNetPreprocess.onnx → ResNet18.onnx.</summary>
    private static float[] ReferenceEmbedding(InferenceSession preprocess, InferenceSession featurizer, Mat bgr)
    {
        using var resized = new Mat();
        Cv2.Resize(bgr, resized, new Size(224, 224), interpolation: InterpolationFlags.Linear);
        var planar = new DenseTensor<float>([1, 3, 224, 224]);
        for (var y = 0; y < 224; y++)
        {
            for (var x = 0; x < 224; x++)
            {
                var p = resized.At<Vec3b>(y, x);
                planar[0, 0, y, x] = p.Item2;
                planar[0, 1, y, x] = p.Item1;
                planar[0, 2, y, x] = p.Item0;
            }
        }
        using var prepped = preprocess.Run([NamedOnnxValue.CreateFromTensor(preprocess.InputMetadata.Keys.Single(), planar)]);
        var prepared = prepped.First().AsTensor<float>();
        using var output = featurizer.Run([NamedOnnxValue.CreateFromTensor(featurizer.InputMetadata.Keys.Single(), prepared)]);
        return output.First().AsEnumerable<float>().ToArray();
    }

    internal static List<Mat> ReadFrames(string video, int[] indices)
    {
        using var capture = new VideoCapture(video);
        var frames = new List<Mat>();
        using var frame = new Mat();
        for (var i = 0; i <= indices.Max() && capture.Read(frame); i++)
        {
            if (indices.Contains(i))
            {
                frames.Add(frame.Clone());
            }
        }
        Assert.Equal(indices.Length, frames.Count);
        return frames;
    }

    private static void Dispose(IEnumerable<Mat> mats)
    {
        foreach (var mat in mats)
        {
            mat.Dispose();
        }
    }

    private static float[][] Rows(float[] values) => values.Chunk(512).ToArray();

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += a[i] * b[i];
            na += a[i] * a[i];
            nb += b[i] * b[i];
        }
        return dot / Math.Sqrt(na * nb);
    }
}
