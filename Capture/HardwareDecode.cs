using System.ComponentModel;
using System.Diagnostics;

namespace Edge.Capture;

/// <summary>Decoding network streams on the GPU: see <see cref="CaptureOptions.HardwareDecode"/>.</summary>
public enum HardwareDecodeMode
{
    /// <summary>ffmpeg's <c>-hwaccel cuda</c> when ffmpeg can open a CUDA device here, the CPU otherwise.</summary>
    Auto,

    /// <summary>Always <c>-hwaccel cuda</c>; a machine without it cannot open network streams (said clearly).</summary>
    Cuda,

    /// <summary>The CPU always.</summary>
    Off,
}

/// <summary>
/// Whether the system's ffmpeg can decode on a CUDA device here: asked once per process (ffmpeg creates the device
/// and runs a few blank frames; 0.15 s where there is none: "Cannot load libcuda.so.1"), remembered with ffmpeg's reason.
/// </summary>
public static class HardwareDecode
{
    private static readonly Lazy<(bool Available, string Reason)> s_cuda = new(ProbeCuda);

    /// <summary>True when <c>-hwaccel cuda</c> works here; otherwise false and ffmpeg's reason.</summary>
    public static bool CudaAvailable(out string reason)
    {
        (var available, reason) = s_cuda.Value;
        return available;
    }

    /// <summary>The decoding flags for ffmpeg's input under <paramref name="mode"/>; throws when Cuda is asked for and cannot run.</summary>
    public static string[] InputArguments(HardwareDecodeMode mode, string location) => mode switch
    {
        HardwareDecodeMode.Off => [],
        HardwareDecodeMode.Auto => CudaAvailable(out _) ? ["-hwaccel", "cuda"] : [],
        _ => CudaAvailable(out var reason)
            ? ["-hwaccel", "cuda"]
            : throw new CaptureException(CaptureError.Unreachable,
                $"Capture:HardwareDecode is Cuda but ffmpeg cannot decode on a CUDA device here ({reason}); cannot open {location} (use Auto or Off)"),
    };

    private static (bool, string) ProbeCuda()
    {
        var info = new ProcessStartInfo("ffmpeg")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in (string[])["-hide_banner", "-nostdin", "-loglevel", "error", "-init_hw_device", "cuda=probe",
                     "-f", "lavfi", "-i", "nullsrc=s=64x64:d=0.1", "-f", "null", "-"])
        {
            info.ArgumentList.Add(arg);
        }
        try
        {
            using var ffmpeg = Process.Start(info) ?? throw new Win32Exception("not started");
            var error = ffmpeg.StandardError.ReadToEndAsync();
            if (!ffmpeg.WaitForExit(10_000))
            {
                ffmpeg.Kill(entireProcessTree: true);
                return (false, "ffmpeg did not answer within 10 s");
            }
            var lines = error.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            return ffmpeg.ExitCode == 0 ? (true, "") : (false, lines.FirstOrDefault(l => l.Contains("cuda", StringComparison.OrdinalIgnoreCase)) ?? lines.FirstOrDefault() ?? $"exit code {ffmpeg.ExitCode}");
        }
        catch (Win32Exception)
        {
            return (false, "ffmpeg was not found");
        }
    }
}
