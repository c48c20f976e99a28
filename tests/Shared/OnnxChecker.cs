using System.Diagnostics;

namespace Edge.Tests;

/// <summary>Runs the ONNX project's own validator, onnx.checker.check_model(full_check=True), from Debian's python3-onnx.</summary>
public static class OnnxChecker
{
    private const string Script = "import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]), full_check=True); print('ok')";

    /// <summary>Returns null when the model passes, else the checker's message.</summary>
    public static string? Check(string modelPath)
    {
        var info = new ProcessStartInfo("/usr/bin/python3", ["-c", Script, modelPath])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEnd();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0 && stdout.Trim() == "ok" ? null : stderr.Trim();
    }
}
