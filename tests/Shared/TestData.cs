using Edge.Models;

namespace Edge.Tests;

/// <summary>
/// The real footage fetched by scripts/setup.sh (Debian's opencv-doc) and a frame model prepared once per test run
/// from the ResNet18 featurizer copied beside the test binaries. Missing footage is a failure, not a skip.
/// </summary>
public static class TestData
{
    private static readonly Lazy<string> s_root = new(FindRoot);
    private static readonly Lazy<string> s_frameModel = new(PrepareFrameModel);
    private static readonly Lock s_prepareLock = new();

    public static string RepoRoot => s_root.Value;

    /// <summary>vtest.avi: 768x576, 10 fps, 795 frames.</summary>
    public static string Vtest => Require("vtest.avi");

    /// <summary>The first 50 frames of vtest.avi, cut without re-encoding at set-up.</summary>
    public static string VtestShort => Require("vtest-50.avi");

    /// <summary>cup.mp4: 640x480 H.264, a hand moving a cup; 217 frames.</summary>
    public static string Cup => Require("cup.mp4");

    /// <summary>The default object head (person, background) that set-up's `edge models prepare` trains, with its manifest.</summary>
    public static string ObjectHead => RequirePrepared(Path.Combine("models", "objects-head.onnx"));

    /// <summary>The default object head over grid regions (the frame's grid pooled under each box), trained on the same crop set.</summary>
    public static string ObjectGridHead => RequirePrepared(Path.Combine("models", "objects-grid-head.onnx"));

    /// <summary>The crop set the default object head was trained on (data/objects: train/, test/, crops.json).</summary>
    public static string ObjectCrops => Path.GetDirectoryName(RequirePrepared(Path.Combine("data", "objects", "crops.json")))!;

    /// <summary>The prepared frame model (uint8 NHWC, symbolic batch) with its manifest beside it.</summary>
    public static string FrameModel => s_frameModel.Value;

    public static string Require(string name)
    {
        var path = Path.Combine(RepoRoot, "data", name);
        return File.Exists(path) ? path
            : throw new FileNotFoundException($"test footage {path} is missing: run scripts/setup.sh first", path);
    }

    private static string RequirePrepared(string relative)
    {
        var path = Path.Combine(RepoRoot, relative);
        return File.Exists(path) ? path
            : throw new FileNotFoundException($"{path} is missing: run scripts/setup.sh first (edge models prepare builds it)", path);
    }

    /// <summary>A new empty folder under the system temp folder, for one test's files.</summary>
    public static string NewTempFolder()
    {
        var path = Path.Combine(Path.GetTempPath(), "edge-tests", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(path);
        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Edge.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Edge.sln not found above " + AppContext.BaseDirectory);
    }

    private static string PrepareFrameModel()
    {
        lock (s_prepareLock)
        {
            var folder = Path.Combine(Path.GetTempPath(), "edge-tests", "models-" + Environment.ProcessId);
            var path = Path.Combine(folder, FrameModelBuilder.DefaultModelFile);
            FrameModelBuilder.PrepareResNet18(path);
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                try
                {
                    Directory.Delete(folder, recursive: true);
                }
                catch (IOException)
                {
                }
            };
            return path;
        }
    }
}
