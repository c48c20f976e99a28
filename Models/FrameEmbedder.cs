using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using OpenCvSharp;

namespace Edge.Models;

/// <summary>
/// Runs the frame model: images in, one embedding per image out. Frames enter the model as uint8 NHWC in the
/// manifest's channel order; casting and normalisation happen inside the graph. The input and output buffers are
/// allocated once (pinned) for the largest batch and reused by every call; the embedder owns them, the session and
/// the OrtValues over them, and frees all of it when disposed. Not thread-safe: one caller at a time. A model whose
/// manifest describes a grid (<see cref="ModelManifest.Grid"/>) also gives each frame's spatial feature map from the
/// same forward pass (<see cref="EmbedWithGrid"/>); its buffer is allocated once beside the embeddings'.
/// </summary>
public sealed class FrameEmbedder : IFrameEmbedder, IDisposable
{
    private readonly ModelSession _model;
    // The input buffer: page-locked by ONNX Runtime's CUDA pinned allocator when the model runs on CUDA (the copy to
    // the device is then a direct DMA), else a pinned managed array.
    private readonly byte[]? _input;
    private readonly PageLockedBuffer? _pageLocked;
    private readonly float[] _output;
    private readonly float[] _grid;
    private readonly OrtValue[][] _outputValuesWithGrid;
    private readonly string[] _outputNamesWithGrid;
    private readonly Mat[] _slots;
    private readonly OrtValue[][] _inputValues;
    private readonly OrtValue[][] _outputValues;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly RunOptions _runOptions = new();
    private readonly Size _inputSize;
    private readonly int _imageBytes;

    private FrameEmbedder(ModelSession model, ModelManifest manifest, int maxBatch, GridDescription? grid)
    {
        _model = model;
        Manifest = manifest;
        MaxBatch = maxBatch;
        EmbeddingSize = manifest.EmbeddingSize;
        Grid = grid;
        var gridSize = grid?.Size ?? 0;
        _grid = GC.AllocateArray<float>(maxBatch * gridSize, pinned: true);
        _outputValuesWithGrid = new OrtValue[grid is null ? 0 : maxBatch][];
        _inputSize = new Size(manifest.InputWidth, manifest.InputHeight);
        _imageBytes = manifest.InputWidth * manifest.InputHeight * 3;
        _pageLocked = model.Provider == ExecutionProvider.Cuda ? PageLockedBuffer.TryAllocate(model.Session, (long)maxBatch * _imageBytes) : null;
        _input = _pageLocked is null ? GC.AllocateArray<byte>(maxBatch * _imageBytes, pinned: true) : null;
        _output = GC.AllocateArray<float>(maxBatch * EmbeddingSize, pinned: true);
        var inputAddress = _pageLocked?.Address ?? Marshal.UnsafeAddrOfPinnedArrayElement(_input!, 0);
        _slots = new Mat[maxBatch];
        _inputValues = new OrtValue[maxBatch][];
        _outputValues = new OrtValue[maxBatch][];
        for (var i = 0; i < maxBatch; i++)
        {
            _slots[i] = Mat.FromPixelData(_inputSize.Height, _inputSize.Width, MatType.CV_8UC3, inputAddress + i * _imageBytes);
            var batch = i + 1;
            _inputValues[i] = [_pageLocked is { } locked
                ? OrtValue.CreateTensorValueWithData(locked.Info, TensorElementType.UInt8, [batch, _inputSize.Height, _inputSize.Width, 3], locked.Address, (long)batch * _imageBytes)
                : OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                    new Memory<byte>(_input!, 0, batch * _imageBytes), [batch, _inputSize.Height, _inputSize.Width, 3])];
            _outputValues[i] = [OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance,
                new Memory<float>(_output, 0, batch * EmbeddingSize), [batch, EmbeddingSize])];
            if (grid is not null)
            {
                _outputValuesWithGrid[i] =
                [
                    OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(_output, 0, batch * EmbeddingSize), [batch, EmbeddingSize]),
                    OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, new Memory<float>(_grid, 0, batch * gridSize),
                        [batch, grid.Height, grid.Width, grid.Channels]),
                ];
            }
        }
        _inputNames = [manifest.InputName];
        _outputNames = [manifest.OutputNames[0]];
        _outputNamesWithGrid = grid is null ? [] : [manifest.OutputNames[0], grid.OutputName];
    }

    /// <summary>The spatial feature map the model gives beside the embedding, or null when it gives none.</summary>
    public GridDescription? Grid { get; }

    public ModelManifest Manifest { get; }

    public ExecutionProvider Provider => _model.Provider;

    public string? FallbackReason => _model.FallbackReason;

    public int MaxBatch { get; }

    public int EmbeddingSize { get; }

    /// <summary>
    /// Opens the frame model at <paramref name="modelPath"/> with its manifest, checks that the model's real input
    /// and output match the manifest, and allocates buffers for batches of up to <paramref name="maxBatch"/> frames.
    /// </summary>
    public static FrameEmbedder Open(string modelPath, ModelOptions options, int maxBatch, ILogger logger)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBatch, 1);
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"frame model not found: {modelPath} (run `edge models prepare` to create the default one)");
        }
        var (model, manifest) = OpenSession(modelPath, options, logger);
        modelPath = model.Path;
        try
        {
            var batchLimit = CheckModel(model.Session, manifest, modelPath);
            if (batchLimit is { } fixedBatch && fixedBatch < maxBatch)
            {
                logger.LogWarning("Model {Model} has a fixed batch of {Batch}; batches are limited to it", modelPath, fixedBatch);
                maxBatch = fixedBatch;
            }
            return new FrameEmbedder(model, manifest, maxBatch, CheckGrid(model.Session, manifest, modelPath));
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The session of the copy <see cref="ModelOptions.FramePrecision"/> asks for: with Auto, the fp16 copy when it
    /// exists and CUDA runs (else the model itself, as the provider options say); with Fp16, the copy wherever it runs.
    /// </summary>
    private static (ModelSession Model, ModelManifest Manifest) OpenSession(string modelPath, ModelOptions options, ILogger logger)
    {
        var half = FrameModelBuilder.Float16PathFor(modelPath);
        if (options.FramePrecision == FramePrecision.Fp16 && !File.Exists(half))
        {
            throw new ModelException(ModelError.NotFound, $"Models:FramePrecision is Fp16 but {half} is not there (`edge models prepare` writes it beside the frame model)");
        }
        if (options.FramePrecision == FramePrecision.Fp16
            || (options.FramePrecision == FramePrecision.Auto && options.Provider != ExecutionProvider.Cpu && File.Exists(half) && ModelSession.CudaInThisBuild))
        {
            var halfManifest = ModelManifest.Load(ModelManifest.PathFor(half));
            CheckManifest(halfManifest, half);
            if (options.FramePrecision == FramePrecision.Fp16)
            {
                return (ModelSession.Open(half, options, logger), halfManifest);
            }
            try
            {
                return (ModelSession.Open(half, options.WithProvider(ExecutionProvider.Cuda), logger), halfManifest);
            }
            catch (ModelException ex) when (ex.Error == ModelError.ProviderUnavailable)
            {
                if (options.Provider == ExecutionProvider.Cuda)
                {
                    throw;
                }
                // No CUDA here after all: the fp32 model on the CPU, as Auto says (the reason is logged there).
            }
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        CheckManifest(manifest, modelPath);
        return (ModelSession.Open(modelPath, options, logger), manifest);
    }

    private static void CheckManifest(ModelManifest manifest, string modelPath)
    {
        if (manifest.Kind != ModelManifest.FrameEmbeddingKind)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath} is a '{manifest.Kind}' model, not a frame model");
        }
        if (manifest.InputLayout != "NHWC" || manifest.InputElementType != "uint8" || manifest.Normalization != "in-graph")
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: frame models take uint8 NHWC pixels and normalise in the graph; the manifest says {manifest.InputElementType} {manifest.InputLayout}, normalisation {manifest.Normalization}");
        }
        if (manifest.InputWidth <= 0 || manifest.InputHeight <= 0 || manifest.EmbeddingSize <= 0 || manifest.OutputNames.Length == 0)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: the manifest needs input size, embedding size and an output name");
        }
    }

    /// <summary>Checks the session against the manifest; returns the model's fixed batch size, if it has one.</summary>
    private static int? CheckModel(InferenceSession session, ModelManifest manifest, string modelPath)
    {
        if (!session.InputMetadata.TryGetValue(manifest.InputName, out var input))
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} has no input '{manifest.InputName}' (it has: {string.Join(", ", session.InputMetadata.Keys)})");
        }
        int[] expected = [-1, manifest.InputHeight, manifest.InputWidth, 3];
        var dims = input.Dimensions;
        var shapeMatches = dims.Length == 4 && dims[1] == expected[1] && dims[2] == expected[2] && dims[3] == 3;
        if (!shapeMatches || input.ElementDataType != TensorElementType.UInt8)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: input '{manifest.InputName}' is {input.ElementDataType} [{Shape(dims)}], the manifest needs UInt8 [{Shape(expected)}]");
        }
        var outputName = manifest.OutputNames[0];
        if (!session.OutputMetadata.TryGetValue(outputName, out var output))
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} has no output '{outputName}' (it has: {string.Join(", ", session.OutputMetadata.Keys)})");
        }
        var outDims = output.Dimensions;
        if (outDims.Length != 2 || outDims[1] != manifest.EmbeddingSize || output.ElementDataType != TensorElementType.Float)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: output '{outputName}' is {output.ElementDataType} [{Shape(outDims)}], the manifest needs Float [-1,{manifest.EmbeddingSize}]");
        }
        return dims[0] > 0 ? dims[0] : null;
    }

    /// <summary>The manifest's grid, checked against the model's output; null when the manifest has none.</summary>
    private static GridDescription? CheckGrid(InferenceSession session, ModelManifest manifest, string modelPath)
    {
        if (manifest.Grid is not { } grid)
        {
            return null;
        }
        if (grid.Channels <= 0 || grid.Height <= 0 || grid.Width <= 0)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: the manifest's grid needs positive channels, height and width");
        }
        if (!session.OutputMetadata.TryGetValue(grid.OutputName, out var output))
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} has no grid output '{grid.OutputName}' (it has: {string.Join(", ", session.OutputMetadata.Keys)})");
        }
        var dims = output.Dimensions;
        if (dims.Length != 4 || dims[1] != grid.Height || dims[2] != grid.Width || dims[3] != grid.Channels || output.ElementDataType != TensorElementType.Float)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: grid output '{grid.OutputName}' is {output.ElementDataType} [{Shape(dims)}], the manifest needs Float [-1,{grid.Height},{grid.Width},{grid.Channels}]");
        }
        return grid;
    }

    private static string Shape(int[] dims) => string.Join(',', dims);

    /// <summary>
    /// Resizes each image (8-bit, 3 channels, in the manifest's channel order) into the input buffer, runs the model
    /// and returns the embeddings, one row of <see cref="EmbeddingSize"/> per image. The span is valid until the
    /// next call.
    /// </summary>
    public ReadOnlySpan<float> Embed(IReadOnlyList<Mat> images)
    {
        var count = Prepare(images);
        _model.Session.Run(_runOptions, _inputNames, _inputValues[count - 1], _outputNames, _outputValues[count - 1]);
        return _output.AsSpan(0, count * EmbeddingSize);
    }

    /// <summary>
    /// As <see cref="Embed"/>, and also each image's grid (<see cref="Grid"/>: Height·Width·Channels floats per image,
    /// cell by cell) from the same forward pass. Both spans are valid until the next call. Throws when the model has
    /// no grid.
    /// </summary>
    public ReadOnlySpan<float> EmbedWithGrid(IReadOnlyList<Mat> images, out ReadOnlySpan<float> grids)
    {
        var grid = Grid ?? throw new InvalidOperationException($"the frame model {_model.Path} has no grid output (prepare it again: `edge models prepare --force`)");
        var count = Prepare(images);
        _model.Session.Run(_runOptions, _inputNames, _inputValues[count - 1], _outputNamesWithGrid, _outputValuesWithGrid[count - 1]);
        grids = _grid.AsSpan(0, count * grid.Size);
        return _output.AsSpan(0, count * EmbeddingSize);
    }

    /// <summary>
    /// Threads that resize a batch into the input buffer at once: 0 (the default) one per core, 1 the calling thread
    /// alone. On a GPU the CNN takes well under a millisecond a frame and resizing 768×576 frames on one thread
    /// would bound it; on the CPU the resize is about 1 % of a frame's time either way.
    /// </summary>
    public int ResizeThreads { get; set; }

    /// <summary>
    /// Checks the batch and resizes it into the input buffer (the work before the model runs, alone: what
    /// <c>edge bench</c> times as the resize); returns its size.
    /// </summary>
    public int Prepare(IReadOnlyList<Mat> images)
    {
        var count = images.Count;
        if (count < 1 || count > MaxBatch)
        {
            throw new ArgumentOutOfRangeException(nameof(images), count, $"batch must hold 1 to {MaxBatch} images");
        }
        for (var i = 0; i < count; i++)
        {
            if (images[i].Type() != MatType.CV_8UC3)
            {
                throw new ArgumentException($"image {i} is {images[i].Type()}, frames must be 8-bit with 3 channels", nameof(images));
            }
        }
        var threads = ResizeThreads == 0 ? Environment.ProcessorCount : ResizeThreads;
        if (count == 1 || threads <= 1)
        {
            for (var i = 0; i < count; i++)
            {
                Resize(images[i], i);
            }
        }
        else
        {
            // Each image into its own slot of the pinned buffer: no two threads write the same memory.
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threads }, i => Resize(images[i], i));
        }
        return count;
    }

    private void Resize(Mat image, int slot)
    {
        if (image.Width == _inputSize.Width && image.Height == _inputSize.Height)
        {
            image.CopyTo(_slots[slot]);
        }
        else
        {
            Cv2.Resize(image, _slots[slot], _inputSize, interpolation: InterpolationFlags.Linear);
        }
    }

    /// <summary>Runs <see cref="Embed"/> on the calling thread and copies the embeddings out.</summary>
    public ValueTask<float[]> EmbedAsync(IReadOnlyList<Mat> images, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Embed(images).ToArray());
    }

    /// <summary>Runs <see cref="EmbedWithGrid"/> (or <see cref="Embed"/> when the model has no grid) and copies the results out.</summary>
    public ValueTask<FrameFeatures> EmbedFeaturesAsync(IReadOnlyList<Mat> images, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (Grid is null)
        {
            return ValueTask.FromResult(new FrameFeatures(Embed(images).ToArray(), null));
        }
        var embeddings = EmbedWithGrid(images, out var grids);
        return ValueTask.FromResult(new FrameFeatures(embeddings.ToArray(), grids.ToArray()));
    }

    public void Dispose()
    {
        foreach (var value in _inputValues.Concat(_outputValues).Concat(_outputValuesWithGrid).SelectMany(v => v))
        {
            value.Dispose();
        }
        foreach (var slot in _slots)
        {
            slot.Dispose();
        }
        _runOptions.Dispose();
        _pageLocked?.Dispose();
        _model.Dispose();
    }

    /// <summary>Whether the input buffer is page-locked host memory (the model runs on CUDA and its pinned allocator gave it).</summary>
    public bool PageLockedInput => _pageLocked is not null;
}

/// <summary>
/// A block of page-locked host memory from ONNX Runtime's CUDA pinned allocator ("CudaPinned") of a session: input
/// placed there reaches the GPU by DMA, without the staging copy that pageable memory needs (10-20 % more images/s at
/// batch 8 and up on an H200). Owns the block and the allocator.
/// </summary>
public sealed class PageLockedBuffer : IDisposable
{
    private readonly OrtAllocator _allocator;
    private readonly OrtMemoryAllocation _block;

    private PageLockedBuffer(OrtMemoryInfo info, OrtAllocator allocator, OrtMemoryAllocation block)
    {
        Info = info;
        _allocator = allocator;
        _block = block;
    }

    public OrtMemoryInfo Info { get; }

    public IntPtr Address => _block.DangerousGetHandle();

    /// <summary>
    /// <paramref name="bytes"/> of page-locked memory from the session's CUDA pinned allocator; null where there is
    /// none (a CPU session, a CPU build): the caller then uses pinned managed memory, as on the CPU.
    /// </summary>
    public static PageLockedBuffer? TryAllocate(InferenceSession session, long bytes)
    {
        if (bytes <= 0 || bytes > uint.MaxValue)
        {
            return null;
        }
        OrtMemoryInfo? info = null;
        OrtAllocator? allocator = null;
        try
        {
            info = new OrtMemoryInfo(OrtMemoryInfo.allocatorCUDA_PINNED, OrtAllocatorType.DeviceAllocator, 0, OrtMemType.CpuOutput);
            allocator = new OrtAllocator(session, info);
            return new PageLockedBuffer(info, allocator, allocator.Allocate((uint)bytes));
        }
        catch (OnnxRuntimeException)
        {
            allocator?.Dispose();
            info?.Dispose();
            return null;
        }
    }

    public void Dispose()
    {
        _block.Dispose();
        _allocator.Dispose();
        Info.Dispose();
    }
}
