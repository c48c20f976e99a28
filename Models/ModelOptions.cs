using System.ComponentModel.DataAnnotations;

namespace Edge.Models;

public enum ExecutionProvider
{
    /// <summary>CUDA when it can run here, otherwise the CPU, saying which.</summary>
    Auto,
    Cuda,
    Cpu,
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

    /// <summary>CUDA device ordinal.</summary>
    [Range(0, 64)]
    public int DeviceId { get; set; }

    /// <summary>Threads inside one operator on the CPU; 0 lets ONNX Runtime use one per core.</summary>
    [Range(0, 256)]
    public int IntraOpThreads { get; set; }

    /// <summary>Threads running independent operators at once on the CPU.</summary>
    [Range(1, 256)]
    public int InterOpThreads { get; set; } = 1;

    /// <summary>Resolves a model path against <see cref="Directory"/> unless it is absolute or exists as given.</summary>
    public string Resolve(string path) =>
        Path.IsPathRooted(path) || File.Exists(path) ? path : Path.Combine(Directory, path);
}
