using Edge.Models;
using Edge.Tests;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using LogLevel = Microsoft.Extensions.Logging.LogLevel;

namespace Edge.Models.Tests;

public sealed class ModelSessionTests
{
    [SkippableFact]
    public void Open_AutoWithoutGpu_FallsBackToCpuAndSaysSo()
    {
        Skip.If(CudaWorks(), "this machine runs CUDA: Auto picks it, nothing falls back");
        var log = new ListLogger();
        using var session = ModelSession.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Auto }, log);
        Assert.Equal(ExecutionProvider.Cpu, session.Provider);
        Assert.False(string.IsNullOrEmpty(session.FallbackReason));
        var warning = Assert.Single(log.Entries, e => e.Level == LogLevel.Warning);
        Assert.Contains("CUDA is not available", warning.Message, StringComparison.Ordinal);
        Assert.Contains("runs on the CPU", warning.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Open_CudaWithoutGpu_FailsClearly()
    {
        Skip.If(CudaWorks(), "this machine runs CUDA");
        var error = Assert.Throws<ModelException>(() =>
            ModelSession.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cuda }, NullLogger.Instance));
        Assert.Equal(ModelError.ProviderUnavailable, error.Error);
        Assert.StartsWith("CUDA was requested but cannot run here", error.Message, StringComparison.Ordinal);
    }

    [SkippableFact]
    public void Embed_Cuda_MatchesCpu()
    {
        Skip.IfNot(CudaWorks(), "no CUDA on this machine (GPU build and GPU needed)");
        using var frames = new DisposableList(FrameModelTests.ReadFrames(TestData.VtestShort, [0, 10, 20, 30]));
        using var cpu = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu }, 4, NullLogger.Instance);
        using var cuda = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cuda }, 4, NullLogger.Instance);
        Assert.Equal(ExecutionProvider.Cuda, cuda.Provider);
        var a = cpu.Embed(frames.Items).ToArray();
        var b = cuda.Embed(frames.Items).ToArray();
        // CUDA runs convolutions in TF32 by default: measured on an H100, the largest difference on vtest frames was
        // 1.3e-3 of the largest value (0.014 on values up to 11.7), so the bound is relative.
        var largest = a.Max(Math.Abs);
        Assert.True(a.Zip(b).Max(p => Math.Abs(p.First - p.Second)) < 5e-3f * largest);
        Assert.True(cuda.PageLockedInput, "on CUDA the input buffer comes from ONNX Runtime's pinned allocator");
        Assert.False(cpu.PageLockedInput);

        // The fp16 copy, which Auto serves on CUDA: close to the CPU's fp32 (1.3e-3 relative on the CPU's own run of it).
        var folder = TestData.NewTempFolder();
        try
        {
            var fp32 = Path.Combine(folder, FrameModelBuilder.DefaultModelFile);
            File.Copy(TestData.FrameModel, fp32);
            File.Copy(ModelManifest.PathFor(TestData.FrameModel), ModelManifest.PathFor(fp32));
            FrameModelBuilder.WriteFloat16(fp32);
            using var half = FrameEmbedder.Open(fp32, new ModelOptions { Provider = ExecutionProvider.Auto }, 4, NullLogger.Instance);
            Assert.Equal((ExecutionProvider.Cuda, "resnet18-frame-fp16"), (half.Provider, half.Manifest.Name));
            var c = half.Embed(frames.Items).ToArray();
            Assert.True(a.Zip(c).Max(p => Math.Abs(p.First - p.Second)) < 2e-2f * largest);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Embed_OnTheCpu_InputInPinnedManagedMemory_NoPageLockedBlockOffered()
    {
        using var session = ModelSession.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu }, NullLogger.Instance);
        Assert.Null(PageLockedBuffer.TryAllocate(session.Session, 224 * 224 * 3));
        using var embedder = FrameEmbedder.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cpu }, 2, NullLogger.Instance);
        Assert.False(embedder.PageLockedInput);
        Assert.Equal(
            new Dictionary<string, string> { ["device_id"] = "0", ["cudnn_conv_algo_search"] = "EXHAUSTIVE", ["prefer_nhwc"] = "1" },
            ModelSession.CudaProviderOptions(new ModelOptions()));
        Assert.Equal(
            new Dictionary<string, string> { ["device_id"] = "1", ["cudnn_conv_algo_search"] = "HEURISTIC" },
            ModelSession.CudaProviderOptions(new ModelOptions { DeviceId = 1, CudaPreferNhwc = false, CudnnConvAlgoSearch = CudnnSearch.Heuristic }));
    }

    [Fact]
    public void Open_MissingModel_IsNotFound()
    {
        var error = Assert.Throws<ModelException>(() =>
            FrameEmbedder.Open("/nonexistent/model.onnx", new ModelOptions(), 1, NullLogger.Instance));
        Assert.Equal(ModelError.NotFound, error.Error);
        Assert.Contains("/nonexistent/model.onnx", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Open_ModelOfTheWrongShape_IsInvalidAndNamesTheShapes()
    {
        // The package's raw featurizer (float NCHW, batch 1) under a frame-model manifest.
        var folder = TestData.NewTempFolder();
        try
        {
            var model = Path.Combine(folder, "raw.onnx");
            File.Copy(FrameModelBuilder.FeaturizerPath, model);
            var manifest = ModelManifest.Load(ModelManifest.PathFor(TestData.FrameModel)) with { InputName = "Input247" };
            manifest.Save(ModelManifest.PathFor(model));
            var error = Assert.Throws<ModelException>(() =>
                FrameEmbedder.Open(model, new ModelOptions { Provider = ExecutionProvider.Cpu }, 1, NullLogger.Instance));
            Assert.Equal(ModelError.Invalid, error.Error);
            Assert.Contains("input 'Input247' is Float [1,3,224,224], the manifest needs UInt8 [-1,224,224,3]", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Open_ModelWithoutManifest_IsNotFound()
    {
        var folder = TestData.NewTempFolder();
        try
        {
            var model = Path.Combine(folder, "lonely.onnx");
            File.Copy(TestData.FrameModel, model);
            var error = Assert.Throws<ModelException>(() => FrameEmbedder.Open(model, new ModelOptions(), 1, NullLogger.Instance));
            Assert.Equal(ModelError.NotFound, error.Error);
            Assert.Contains("lonely.json", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void Open_NotAnOnnxFile_IsInvalid()
    {
        var folder = TestData.NewTempFolder();
        try
        {
            var model = Path.Combine(folder, "junk.onnx");
            File.WriteAllText(model, "this is not a model");
            File.Copy(ModelManifest.PathFor(TestData.FrameModel), ModelManifest.PathFor(model));
            var error = Assert.Throws<ModelException>(() =>
                FrameEmbedder.Open(model, new ModelOptions { Provider = ExecutionProvider.Cpu }, 1, NullLogger.Instance));
            Assert.Equal(ModelError.Invalid, error.Error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static bool CudaWorks()
    {
        try
        {
            using var session = ModelSession.Open(TestData.FrameModel, new ModelOptions { Provider = ExecutionProvider.Cuda }, NullLogger.Instance);
            return true;
        }
        catch (ModelException ex) when (ex.Error == ModelError.ProviderUnavailable)
        {
            return false;
        }
    }

    private sealed class DisposableList(List<Mat> items) : IDisposable
    {
        public List<Mat> Items { get; } = items;

        public void Dispose()
        {
            foreach (var item in Items)
            {
                item.Dispose();
            }
        }
    }
}
