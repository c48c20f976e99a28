using Edge.Models;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>
/// A relative model path is looked up under Models:Directory in the working folder, then in the same folder beside
/// the executable, where a serving bundle and the Debian package carry the prepared models. (The working folder's
/// copy winning, file by file, is checked end to end with the bundle: BundleTests.)
/// </summary>
public sealed class ModelSearchTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    /// <summary>A folder name that exists nowhere: neither here nor beside any binary.</summary>
    private readonly string _folder = "models-" + Guid.NewGuid().ToString("N")[..8];

    private string Binary => Path.Combine(_work, "bin");

    private string Create(params string[] parts)
    {
        var path = Path.Combine([_work, .. parts]);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "onnx");
        return path;
    }

    [Fact]
    public void Resolve_FolderMissingHere_FindsTheModelBesideTheBinary()
    {
        var beside = Create("bin", _folder, "frame.onnx");
        var options = new ModelOptions { Directory = _folder };

        Assert.Equal(beside, options.Resolve("frame.onnx", Binary));
        Assert.Equal([_folder, Path.Combine(Binary, _folder)], options.SearchDirectories(Binary));
    }

    [Fact]
    public void Resolve_NowhereFound_NamesTheConfiguredFolder()
    {
        var options = new ModelOptions { Directory = _folder };

        Assert.Equal(Path.Combine(_folder, "frame.onnx"), options.Resolve("frame.onnx", Binary));
    }

    [Fact]
    public void Resolve_AbsoluteFolder_IsTheOnlyPlaceLookedAt()
    {
        Create("bin", "abs", "frame.onnx");
        var absolute = Path.Combine(_work, "absolute");
        var options = new ModelOptions { Directory = absolute };

        Assert.Equal(Path.Combine(absolute, "frame.onnx"), options.Resolve("frame.onnx", Binary));
        Assert.Equal([absolute], options.SearchDirectories(Binary));
    }

    [Fact]
    public void Resolve_AbsoluteOrExistingPath_IsKeptAsGiven()
    {
        var file = Create("elsewhere", "any.onnx");
        Create("bin", _folder, "any.onnx");
        var options = new ModelOptions { Directory = _folder };

        Assert.Equal(file, options.Resolve(file, Binary));
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);
}
