using System.ComponentModel.DataAnnotations;

namespace Edge.Models;

public enum ExecutionProvider
{
    /// <summary>CUDA when it can run here, otherwise the CPU, saying which.</summary>
    Auto,
    Cuda,
    Cpu,
}

/// <summary>cuDNN's convolution algorithm search (ONNX Runtime's <c>cudnn_conv_algo_search</c>).</summary>
public enum CudnnSearch
{
    Exhaustive,
    Heuristic,
    Default,
}

/// <summary>Which copy of the frame model runs: see <see cref="ModelOptions.FramePrecision"/>.</summary>
public enum FramePrecision
{
    Auto,
    Fp32,
    Fp16,
}

/// <summary>Which models run and where. Config section "Models".</summary>
public sealed class ModelOptions
{
    public const string Section = "Models";

    /// <summary>Folder searched by <c>edge models</c> and used for relative model paths.</summary>
    [Required]
    public string Directory { get; set; } = "models";

    /// <summary>The frame model (CNN embedding per frame); a manifest of the same name with .json lies beside it.</summary>
    [Required]
    public string FrameModel { get; set; } = "resnet18-frame.onnx";

    public ExecutionProvider Provider { get; set; } = ExecutionProvider.Auto;

    /// <summary>
    /// CUDA: convolutions in NHWC (ONNX Runtime's <c>prefer_nhwc</c>), which lets fp16 convolutions use tensor cores
    /// without layout changes around each one: +40 % images/s for ResNet18 fp16 at batch 64 on an H200 (../GPU notes
    /// in the README's GPU section). Ignored on the CPU.
    /// </summary>
    public bool CudaPreferNhwc { get; set; } = true;

    /// <summary>CUDA: how cuDNN picks each convolution's algorithm (once per input shape): Exhaustive (the fastest, measured), Heuristic or Default.</summary>
    public CudnnSearch CudnnConvAlgoSearch { get; set; } = CudnnSearch.Exhaustive;

    /// <summary>
    /// The frame model's arithmetic: Auto serves the fp16 copy (<c>NAME-fp16.onnx</c> beside the frame model, written by
    /// <c>edge models prepare</c>) on CUDA and fp32 on the CPU (which has no fp16 kernels for these layers: it would
    /// convert back and forth); Fp16 asks for the copy wherever the model runs; Fp32 never uses it.
    /// </summary>
    public FramePrecision FramePrecision { get; set; } = FramePrecision.Auto;

    /// <summary>CUDA device ordinal.</summary>
    [Range(0, 64)]
    public int DeviceId { get; set; }

    /// <summary>Threads inside one operator on the CPU; 0 lets ONNX Runtime use one per core.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Threads inside one operator for the temporal stage's model (anomaly or activity) on the CPU; 0 = one per core.
    /// It runs one small window at a time beside the CNN, whose threads already hold every core: a pool of its own
    /// there bought 0.1 ms a window and cost the CNN more than that (README, Benchmarks).
    /// </summary>
    [Range(0, 256)]
    public int TemporalIntraOpThreads { get; set; } = 1;

    /// <summary>Threads running independent operators at once on the CPU.</summary>
    [Range(1, 256)]
    public int InterOpThreads { get; set; } = 1;

    /// <summary>A copy of these options for the temporal stage's model: <see cref="TemporalIntraOpThreads"/> threads per operator.</summary>
    public ModelOptions ForTemporalModel()
    {
        var copy = (ModelOptions)MemberwiseClone();
        copy.IntraOpThreads = TemporalIntraOpThreads;
        return copy;
    }

    /// <summary>A copy of these options with another provider.</summary>
    public ModelOptions WithProvider(ExecutionProvider provider)
    {
        var copy = (ModelOptions)MemberwiseClone();
        copy.Provider = provider;
        return copy;
    }

    /// <summary>
    /// The folders a relative model path is looked up in, in order: <see cref="Directory"/> (in the working directory
    /// when relative), then the same relative folder beside the executable, where a serving bundle or the Debian
    /// package carries its models (as the config file is found beside it). An absolute <see cref="Directory"/> is the
    /// only folder.
    /// </summary>
    /// <param name="binaryDirectory">The executable's folder; null means <see cref="AppContext.BaseDirectory"/>.</param>
    public IReadOnlyList<string> SearchDirectories(string? binaryDirectory = null)
    {
        if (Path.IsPathRooted(Directory))
        {
            return [Directory];
        }
        var beside = Path.Combine(binaryDirectory ?? AppContext.BaseDirectory, Directory);
        return Path.GetFullPath(beside) == Path.GetFullPath(Directory) ? [Directory] : [Directory, beside];
    }

    /// <summary>
    /// Resolves a model path: as given when it is absolute or exists; otherwise the first of
    /// <see cref="SearchDirectories"/> that has it, else (a model to be written, or an error to name) under
    /// <see cref="Directory"/>.
    /// </summary>
    public string Resolve(string path, string? binaryDirectory = null)
    {
        if (Path.IsPathRooted(path) || File.Exists(path))
        {
            return path;
        }
        var folders = SearchDirectories(binaryDirectory);
        return folders.Select(folder => Path.Combine(folder, path)).FirstOrDefault(File.Exists) ?? Path.Combine(folders[0], path);
    }
}
