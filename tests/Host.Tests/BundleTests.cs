using System.Diagnostics;
using System.Text.Json;
using Edge.Models;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>
/// The CPU serving bundle (scripts/publish.sh cpu) and the Debian package made from it (scripts/package.sh), as
/// scripts/test.sh builds them before the tests: what they hold, that the bundle runs with nothing on PATH from any
/// folder, and that dpkg, systemd and lintian accept the package. Missing artifacts are a failure, as missing footage
/// is. The CUDA bundle is not built by CI (600 MB); its check runs where scripts/publish.sh cuda has made one.
/// </summary>
public sealed class BundleTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    private static readonly Lazy<string> s_version = new(() => Tool.Run(TestData.RepoRoot, Path.Combine(TestData.RepoRoot, "scripts", "version.sh")).Stdout.Trim());

    private static string Version => s_version.Value;

    private static string Bundle(string flavor) => Path.Combine(TestData.RepoRoot, "out", $"edge-{Version}-linux-x64-{flavor}");

    private static string CpuBundle => Require(Bundle("cpu"), "scripts/publish.sh cpu");

    private static string Deb => Require(Path.Combine(TestData.RepoRoot, "out", $"edge_{Version}_amd64.deb"), "scripts/package.sh");

    private static string Require(string path, string script) =>
        File.Exists(path) || Directory.Exists(path) ? path
            : throw new FileNotFoundException($"{path} is missing: run {script} first (scripts/test.sh does)", path);

    /// <summary>The Debian packages the bundle's native code links (OpenCV's GTK and friends, the C and C++ runtimes)
    /// plus what Edge loads or runs without linking: libssl3, ffmpeg, procps.</summary>
    private static readonly string[] s_depends =
    [
        "ffmpeg", "libatk1.0-0", "libatomic1", "libc6 (>= 2.34)", "libcairo-gobject2", "libcairo2", "libdrm2", "libfreetype6",
        "libgcc-s1", "libgdk-pixbuf-2.0-0", "libglib2.0-0", "libgtk-3-0", "libharfbuzz0b", "libpango-1.0-0",
        "libpangocairo-1.0-0", "libssl3", "libstdc++6", "libx11-6", "procps",
    ];

    [Fact]
    public void CpuBundle_Files_HaveModelsConfigAndCheckerButNothingServingNeverLoads()
    {
        var files = Directory.EnumerateFiles(CpuBundle, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(CpuBundle, f)).ToHashSet();

        foreach (var required in (string[])["edge", "edge.dll", "config/edge.json", "native-packages.tsv", "check-native.sh",
                     "libOpenCvSharpExtern.so", "libonnxruntime.so", "libe_sqlite3.so", "libcoreclr.so", "Edge.Pipeline.dll"])
        {
            Assert.Contains(required, files);
        }
        foreach (var model in (string[])["resnet18-frame.onnx", "resnet18-frame.json", "objects-grid-head.onnx", "objects-grid-head.json", "objects-head.onnx", "objects-head.json"])
        {
            var bundled = Path.Combine(CpuBundle, "models", model);
            Assert.True(File.Exists(bundled), $"models/{model} is in the bundle");
            Assert.Equal(File.ReadAllBytes(Path.Combine(TestData.RepoRoot, "models", model)), File.ReadAllBytes(bundled));
        }
        var unwanted = files.Where(f =>
            f.Contains("torch", StringComparison.OrdinalIgnoreCase) || f.StartsWith("Edge.Training", StringComparison.Ordinal)
            || f.StartsWith("ScottPlot", StringComparison.Ordinal) || f.StartsWith("SkiaSharp", StringComparison.Ordinal)
            || f.EndsWith(".pdb", StringComparison.Ordinal) || f.StartsWith("featurizer/", StringComparison.Ordinal)
            || f.StartsWith("runtimes/", StringComparison.Ordinal) || f.EndsWith(".resources.dll", StringComparison.Ordinal)
            || f.EndsWith(".dylib", StringComparison.Ordinal) || f is "createdump" or "libmscordaccore.so" or "libmscordbi.so"
                or "libcoreclrtraceptprovider.so" or "libclrgc.so" or "libclrgcexp.so" or "libonnxruntime_providers_tensorrt.so").ToList();
        Assert.Empty(unwanted);
        var size = files.Sum(f => new FileInfo(Path.Combine(CpuBundle, f)).Length);
        Assert.InRange(size, 200_000_000, 350_000_000);
    }

    [Fact]
    public void CpuBundle_CheckNative_EveryLibraryFindsItsDependencies()
    {
        var result = Tool.Run(_work, Path.Combine(CpuBundle, "check-native.sh"), CpuBundle);

        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Matches(@"check-native: 1[0-9] native libraries load their dependencies", result.Stdout);
    }

    [Fact]
    public async Task CpuBundle_ProcessFromAnotherFolderWithNothingOnPath_UsesItsOwnConfigModelsAndRuntime()
    {
        // No PATH (so no dotnet and no ffmpeg), no config or models here: everything comes from beside the binary.
        var result = await Tool.RunAsync(_work, NoPath(), Path.Combine(CpuBundle, "edge"),
            "process", TestData.VtestShort, "--out", "out", "--provider", "cpu", "--threads", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement;
        Assert.Equal(50, summary.GetProperty("framesRead").GetInt64());
        Assert.Equal(50, summary.GetProperty("framesProcessed").GetInt64());
        Assert.Equal(Path.Combine(CpuBundle, "models", "resnet18-frame.onnx"), summary.GetProperty("model").GetProperty("path").GetString());
        Assert.Equal("Cpu", summary.GetProperty("model").GetProperty("provider").GetString());
        var objects = summary.GetProperty("objects");
        Assert.Equal("objects-grid-head", objects.GetProperty("headModel").GetString());
        Assert.Equal(50, objects.GetProperty("frames").GetInt64());
        Assert.True(objects.GetProperty("objects").GetInt64() > 0, "the bundled head finds the walkers");
        var (values, rows, columns) = NpyFile.Read(Path.Combine(_work, "out", "embeddings.npy"));
        Assert.Equal((50, 512), (rows, columns));
        Assert.True(values.Max() > 0.1f);
        // The log file is where the bundled config/edge.json (Logging:File) puts it: relative to the working folder.
        Assert.True(Directory.EnumerateFiles(Path.Combine(_work, "logs")).Any(), "a log file is written");
    }

    [Fact]
    public async Task CpuBundle_ModelsFolderHere_ItsModelsComeFirstAndTheBundlesFillTheGaps()
    {
        // models/ here has the frame model but no object head: the frame model is this one, the head the bundle's.
        Directory.CreateDirectory(Path.Combine(_work, "models"));
        File.CreateSymbolicLink(Path.Combine(_work, "models", "resnet18-frame.onnx"), Path.Combine(TestData.RepoRoot, "models", "resnet18-frame.onnx"));
        File.Copy(Path.Combine(TestData.RepoRoot, "models", "resnet18-frame.json"), Path.Combine(_work, "models", "resnet18-frame.json"));

        var result = await Tool.RunAsync(_work, NoPath(), Path.Combine(CpuBundle, "edge"),
            "process", TestData.VtestShort, "--out", "out", "--max-frames", "10", "--provider", "cpu", "--threads", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement;
        Assert.Equal(Path.Combine("models", "resnet18-frame.onnx"), summary.GetProperty("model").GetProperty("path").GetString());
        Assert.Equal("objects-grid-head", summary.GetProperty("objects").GetProperty("headModel").GetString());
        Assert.Equal(10, summary.GetProperty("framesProcessed").GetInt64());
    }

    [Fact]
    public async Task CpuBundle_FromAnotherFolder_ReadsTheConfigBesideItself()
    {
        var environment = NoPath();
        environment["EDGE_Models__Folder"] = "models";

        var result = await Tool.RunAsync(_work, environment, Path.Combine(CpuBundle, "edge"), "models");

        Assert.Equal(ExitCodes.Config, result.ExitCode);
        Assert.Equal($"error: unknown config key 'Models:Folder' in configuration ({Path.Combine(CpuBundle, "config", "edge.json")} or EDGE_* variables); "
            + "known keys: CudaPreferNhwc, CudnnConvAlgoSearch, DeviceId, Directory, FrameModel, FramePrecision, InterOpThreads, IntraOpThreads, Provider, TemporalIntraOpThreads", result.Stderr.Trim());
    }

    [Fact]
    public async Task CpuBundle_NetworkStreamWithoutFfmpeg_OneLineNamingThePackage()
    {
        var result = await Tool.RunAsync(_work, NoPath(), Path.Combine(CpuBundle, "edge"),
            "process", "rtsp://127.0.0.1:9/cam", "--out", "out", "--provider", "cpu", "--threads", "2", "--no-objects");

        Assert.Equal(ExitCodes.SourceUnreachable, result.ExitCode);
        // The one error line; the rest of stderr is the usual log lines (models loaded), no stack trace.
        var error = Assert.Single(result.Stderr.Split('\n'), l => l.StartsWith("error:", StringComparison.Ordinal));
        Assert.Equal("error: network streams need ffmpeg, which was not found (Debian: apt-get install ffmpeg); cannot open rtsp://127.0.0.1:9/cam", error);
        Assert.DoesNotContain("   at ", result.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Exception", result.Stderr, StringComparison.Ordinal);
        var outFolder = Path.Combine(_work, "out");
        Assert.Empty(Directory.Exists(outFolder) ? Directory.EnumerateFiles(outFolder, "*", SearchOption.AllDirectories) : []);
    }

    [SkippableFact]
    public async Task CudaBundle_WithoutAGpu_RunsOnTheCpuAfterOneLine()
    {
        var bundle = Bundle("cuda");
        Skip.IfNot(Directory.Exists(bundle), $"no CUDA bundle at {bundle} (scripts/publish.sh cuda makes one; CI does not)");
        Skip.If(File.Exists("/dev/nvidia0"), "this machine has a GPU: the CUDA bundle would run on it");
        Assert.True(File.Exists(Path.Combine(bundle, "libonnxruntime_providers_cuda.so")), "the CUDA provider is in the CUDA bundle");
        Assert.False(File.Exists(Path.Combine(bundle, "libonnxruntime_providers_tensorrt.so")), "TensorRT is trimmed");

        var result = await Tool.RunAsync(_work, NoPath(), Path.Combine(bundle, "edge"),
            "process", TestData.VtestShort, "--out", "out", "--max-frames", "10", "--no-objects", "--threads", "2");

        Assert.True(result.ExitCode == 0, result.Stderr);
        var model = JsonDocument.Parse(File.ReadAllText(Path.Combine(_work, "out", "summary.json"))).RootElement.GetProperty("model");
        Assert.Equal("Cpu", model.GetProperty("provider").GetString());
        Assert.StartsWith("libonnxruntime_providers_cuda.so cannot load: libcublasLt.so.13: cannot open shared object file",
            model.GetProperty("fallbackReason").GetString(), StringComparison.Ordinal);
        // One line says it (ONNX Runtime's own multi-line report of the failed load is not shown).
        var lines = result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var warning = Assert.Single(lines, l => l.Contains("cuda", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("CUDA is not available (libonnxruntime_providers_cuda.so cannot load: libcublasLt.so.13", warning, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, l => l.Contains("onnxruntime:", StringComparison.Ordinal));
    }

    [Fact]
    public void Deb_Control_NamesPackageVersionArchitectureAndExactlyTheDependencies()
    {
        string Field(string name) => Tool.Run(_work, "dpkg-deb", "-f", Deb, name).Stdout.Trim();

        Assert.Equal("edge", Field("Package"));
        Assert.Equal(Version, Field("Version"));
        Assert.Equal("amd64", Field("Architecture"));
        Assert.Equal(s_depends, Field("Depends").Split(", "));
        Assert.Equal("ca-certificates", Field("Recommends"));
        Assert.Equal("/etc/edge/edge.json", Tool.Run(_work, "dpkg-deb", "--info", Deb, "conffiles").Stdout.Trim());
        var installedKb = long.Parse(Field("Installed-Size"), System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(installedKb, 200_000, 350_000);
    }

    [Fact]
    public void Deb_Files_BundleInOptConfigInEtcUnitAndLinks()
    {
        // "-rwxr-xr-x root/root 78256 2026-01-01 12:00 ./opt/edge/edge" or "lrwxrwxrwx ... ./usr/bin/edge -> /opt/edge/edge"
        var entries = Tool.Run(_work, "dpkg-deb", "-c", Deb).Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries))
            .ToDictionary(f => f[5].Trim().TrimStart('.'), f => (Mode: f[0], Owner: f[1]));

        Assert.All(entries.Values, e => Assert.Equal("root/root", e.Owner));
        Assert.Equal("-rwxr-xr-x", entries["/opt/edge/edge"].Mode);
        Assert.Equal("-rw-r--r--", entries["/opt/edge/libOpenCvSharpExtern.so"].Mode);
        Assert.Equal("-rw-r--r--", entries["/etc/edge/edge.json"].Mode);
        Assert.Equal("-rw-r--r--", entries["/lib/systemd/system/edge.service"].Mode);
        Assert.Contains("/usr/bin/edge -> /opt/edge/edge", entries.Keys);
        Assert.Contains("/opt/edge/config/edge.json -> /etc/edge/edge.json", entries.Keys);
        foreach (var path in (string[])["/opt/edge/models/resnet18-frame.onnx", "/opt/edge/models/objects-grid-head.onnx", "/opt/edge/models/objects-head.onnx",
                     "/opt/edge/check-native.sh", "/opt/edge/native-packages.tsv", "/usr/share/doc/edge/copyright",
                     "/usr/share/doc/edge/changelog.gz", "/usr/share/man/man1/edge.1.gz"])
        {
            Assert.Contains(path, entries.Keys);
        }
        Assert.DoesNotContain(entries.Keys, p => p.Contains("torch", StringComparison.OrdinalIgnoreCase));
        // Nothing is shipped into the folders the service writes: systemd makes them for its dynamic user.
        Assert.DoesNotContain(entries.Keys, p => p.StartsWith("/var/", StringComparison.Ordinal));
        Assert.Equal(File.ReadAllText(Path.Combine(TestData.RepoRoot, "config", "edge.json")),
            Tool.Run(_work, "sh", "-c", $"dpkg-deb --fsys-tarfile '{Deb}' | tar -xOf - ./etc/edge/edge.json").Stdout);
    }

    [Fact]
    public void Deb_Unit_SystemdAcceptsItAndStateAndLogsAreWritable()
    {
        Tool.Run(_work, "dpkg-deb", "-x", Deb, "root");
        var unitText = File.ReadAllText(Path.Combine(_work, "root", "lib", "systemd", "system", "edge.service"));
        var keys = unitText.Split('\n').Where(l => l.Contains('=', StringComparison.Ordinal) && !l.StartsWith('#')).ToList();
        Assert.Contains("ExecStart=/opt/edge/edge run --config /etc/edge/edge.json", keys);
        Assert.Contains("DynamicUser=yes", keys);
        Assert.Contains("StateDirectory=edge", keys);
        Assert.Contains("WorkingDirectory=/var/lib/edge", keys);
        Assert.Contains("LogsDirectory=edge", keys);
        Assert.Contains("Environment=EDGE_Logging__File=/var/log/edge/edge-.log", keys);
        // The service writes only under its working directory (relative paths of the config: Service:DataDirectory,
        // Delivery:OutboxPath) and /var/log/edge; nothing in the default config points anywhere else.
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(TestData.RepoRoot, "config", "edge.json")));
        Assert.False(Path.IsPathRooted(config.RootElement.GetProperty("Service").GetProperty("DataDirectory").GetString()));
        Assert.False(Path.IsPathRooted(config.RootElement.GetProperty("Delivery").GetProperty("OutboxPath").GetString()));

        // systemd-analyze checks that ExecStart's program exists: point the copy at the unpacked one.
        var unit = Path.Combine(_work, "edge.service");
        File.WriteAllText(unit, unitText.Replace("/opt/edge/", Path.Combine(_work, "root", "opt", "edge") + "/", StringComparison.Ordinal));
        var verify = Tool.Run(_work, "systemd-analyze", "verify", "--man=no", unit);

        Assert.True(verify.ExitCode == 0 && verify.Stderr.Trim().Length == 0, verify.Stderr);
    }

    [Fact]
    public void Deb_Lintian_NoErrorsNoWarnings()
    {
        var result = Tool.Run(_work, TimeSpan.FromMinutes(6), "lintian", "--fail-on", "error,warning", Deb);

        var findings = result.Stdout.Split('\n').Where(l => l.StartsWith("E:", StringComparison.Ordinal) || l.StartsWith("W:", StringComparison.Ordinal)).ToList();
        Assert.True(result.ExitCode == 0 && findings.Count == 0, string.Join('\n', findings) + result.Stderr);
    }

    /// <summary>An environment whose PATH is an empty folder: no dotnet, no ffmpeg, nothing.</summary>
    private Dictionary<string, string?> NoPath()
    {
        var empty = Path.Combine(_work, "empty-path");
        Directory.CreateDirectory(empty);
        return new() { ["PATH"] = empty, ["NO_COLOR"] = "1", ["DOTNET_ROOT"] = null };
    }

    public void Dispose() => Directory.Delete(_work, recursive: true);

    /// <summary>Runs a program to its end with a time limit, its output captured.</summary>
    private static class Tool
    {
        public sealed record Result(int ExitCode, string Stdout, string Stderr);

        public static Result Run(string workingDirectory, string file, params string[] args) =>
            Run(workingDirectory, TimeSpan.FromMinutes(2), file, args);

        public static Result Run(string workingDirectory, TimeSpan timeout, string file, params string[] args) =>
            RunAsync(workingDirectory, null, timeout, file, args).GetAwaiter().GetResult();

        public static Task<Result> RunAsync(string workingDirectory, IDictionary<string, string?> environment, string file, params string[] args) =>
            RunAsync(workingDirectory, environment, TimeSpan.FromMinutes(3), file, args);

        private static async Task<Result> RunAsync(string workingDirectory, IDictionary<string, string?>? environment, TimeSpan timeout,
            string file, string[] args)
        {
            var info = new ProcessStartInfo(file)
            {
                WorkingDirectory = workingDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            foreach (var (name, value) in environment ?? new Dictionary<string, string?>())
            {
                if (value is null)
                {
                    info.Environment.Remove(name);
                }
                else
                {
                    info.Environment[name] = value;
                }
            }
            using var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {file}");
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(timeout);
            try
            {
                await process.WaitForExitAsync(limit.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish within {timeout}");
            }
            return new Result(process.ExitCode, await stdout, await stderr);
        }
    }
}
