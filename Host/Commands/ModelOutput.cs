using Edge.Pipeline.Outputs;
namespace Edge.Host.Commands;

/// <summary>Checks, before training starts, that the model and its manifest can be written where the user asked.</summary>
internal static class ModelOutput
{
    public static void EnsureWritable(string path)
    {
        if (Directory.Exists(path))
        {
            throw new OutputException($"cannot write the model to {path}: it is a folder");
        }
        if (Directory.Exists(Edge.Models.ModelManifest.PathFor(path)))
        {
            throw new OutputException($"cannot write the model to {path}: its manifest {Edge.Models.ModelManifest.PathFor(path)} is a folder");
        }
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        var probe = Path.Combine(directory, $".edge-write-test-{Environment.ProcessId}");
        try
        {
            Directory.CreateDirectory(directory);
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The folder, not the test file written into it (the exception's own message names that file).
            throw new OutputException($"cannot write the model to {path}: the folder {directory} cannot be written to{(ex is UnauthorizedAccessException ? " (permission denied)" : "")}", ex);
        }
    }
}
