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
