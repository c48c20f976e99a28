using System.Diagnostics;
using Edge.Tests;

namespace Edge.Host.Tests;

/// <summary>Runs the real <c>edge</c> executable (built beside the tests) in a working folder of its own.</summary>
public sealed class EdgeProcess
{
    public static string EdgeDll => Path.Combine(AppContext.BaseDirectory, "edge.dll");

    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static Process Start(string workingDirectory, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(EdgeDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["NO_COLOR"] = "1";
        return Process.Start(info) ?? throw new InvalidOperationException("could not start edge");
    }

    public static async Task<Result> RunAsync(string workingDirectory, params string[] args)
    {
        using var process = Start(workingDirectory, args);
        return await WaitAsync(process);
    }

    /// <summary>
    /// Runs a verb that trains with libtorch, once more when the first run fails with a libtorch ExternalException.
    /// libtorch has failed inside training loops about once in five CI runs on a loaded two-core machine ("Unknown
    /// scalar type", "Expected false to be true"), never alone or under MALLOC_CHECK_ and a tiny GC generation 0; the
    /// second run keeps this native fault from hiding what a test checks. Any other failure is returned as it is.
    /// </summary>
    public static async Task<Result> RunTorchAsync(string workingDirectory, params string[] args)
    {
        var result = await RunAsync(workingDirectory, args);
        return result.ExitCode != 0 && (result.Stderr + result.Stdout).Contains("ExternalException", StringComparison.Ordinal)
            ? await RunAsync(workingDirectory, args)
            : result;
    }

    public static async Task<Result> WaitAsync(Process process)
    {
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(timeout.Token);
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Common flags: the test run's prepared frame model, CPU, two threads.</summary>
    public static string[] ModelArgs => ["--model", TestData.FrameModel, "--provider", "cpu", "--threads", "2"];
}
