using Edge.Pipeline.Outputs;
namespace Edge.Host.Commands;

/// <summary>Checks, before training starts, that the model can be written where the user asked.</summary>
internal static class ModelOutput
{
    public static void EnsureWritable(string path)
    {
        try
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
            Directory.CreateDirectory(directory);
            var probe = Path.Combine(directory, $".edge-write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write the model to {path}: {ex.Message}", ex);
        }
    }
}
