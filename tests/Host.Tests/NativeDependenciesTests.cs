using System.Runtime.InteropServices;

namespace Edge.Host.Tests;

/// <summary>The native libraries of the output load here, and a missing system library becomes one line naming its package.</summary>
public sealed class NativeDependenciesTests
{
    /// <summary>Loaded only on demand and never by Edge (libtorch's test and Python bindings, the GPU providers).</summary>
    private static readonly string[] s_notLoaded =
    [
        "libjitbackend_test", "libtorchbind_test", "libaoti_custom_ops", "libbackend_with_compiler", "libnnapi_backend",
        "libtorch_python", "libonnxruntime_providers_cuda", "libonnxruntime_providers_tensorrt",
    ];

    private static List<string> LoadedLibraries() =>
        [.. Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native"), "*.so*")
            .Select(path => Path.GetFileName(path))
            .Where(file => !s_notLoaded.Any(prefix => file.StartsWith(prefix + ".", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)];

    public static TheoryData<string> NativeLibraries() => [.. LoadedLibraries()];

    [Theory]
    [MemberData(nameof(NativeLibraries))]
    public void NativeLibrary_OfTheOutput_LoadsWithItsDependencies(string file)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", file);
        var loaded = NativeLibrary.TryLoad(path, out var handle);
        Assert.True(loaded, $"{file} does not load here: run scripts/check-native.sh {AppContext.BaseDirectory} to see which system library is missing");
        NativeLibrary.Free(handle);
    }

    [Fact]
    public void NativeLibraries_CoverOpenCvOnnxRuntimeAndLibtorch()
    {
        var files = LoadedLibraries();
        Assert.Contains("libOpenCvSharpExtern.so", files);
        Assert.Contains("libonnxruntime.so", files);
        Assert.Contains("libtorch_cpu.so", files);
    }

    [Fact]
    public void Describe_MissingSystemLibrary_NamesTheDebianPackage()
    {
        // The message .NET gives when OpenCV's native library cannot load on a bare Debian 12.
        var inner = new DllNotFoundException("Unable to load shared library 'OpenCvSharpExtern' or one of its dependencies. In order to help "
            + "diagnose loading problems, consider using a tool like strace. If you're using glibc, consider setting the LD_DEBUG environment "
            + "variable: \n/opt/edge/runtimes/linux-x64/native/OpenCvSharpExtern.so: cannot open shared object file: No such file or directory\n"
            + "libatomic.so.1: cannot open shared object file: No such file or directory\n");
        var thrown = new TypeInitializationException("OpenCvSharp.Internal.NativeMethods", inner);

        var message = NativeDependencies.Describe(thrown);

        Assert.Equal("the native library libatomic.so.1 is missing on this machine; install it with: apt-get install libatomic1", message);
    }

    [Fact]
    public void Describe_UnknownLibrary_SaysHowToFindIt()
    {
        var message = NativeDependencies.Describe(new DllNotFoundException("libnotreal.so.3: cannot open shared object file: No such file or directory"));

        Assert.Equal("the native library libnotreal.so.3 is missing on this machine; install the package that provides it (Debian: apt-file search libnotreal.so.3)", message);
    }

    [Fact]
    public void Describe_OtherFailure_IsNotANativeLibraryProblem()
    {
        Assert.Null(NativeDependencies.Describe(new InvalidOperationException("libatomic.so.1: cannot open shared object file")));
    }
}
