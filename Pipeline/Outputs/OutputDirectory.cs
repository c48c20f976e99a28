namespace Edge.Pipeline.Outputs;

/// <summary>
/// An output folder written through a staging folder inside it (".incomplete"): files appear under their final
/// names only when <see cref="Commit"/> moves them there at the end of a run, so a failed or killed run never leaves
/// output that looks complete. Disposing without committing deletes the staging folder, and the output folder too
/// when this run made it and nothing else is in it.
/// </summary>
public sealed class OutputDirectory : IDisposable
{
    private bool _committed;
    private readonly bool _made;

    public OutputDirectory(string path)
    {
        Path = System.IO.Path.GetFullPath(path);
        Staging = System.IO.Path.Combine(Path, ".incomplete");
        _made = !Directory.Exists(Path);
        try
        {
            if (Directory.Exists(Staging))
            {
                Directory.Delete(Staging, recursive: true);
            }
            Directory.CreateDirectory(Staging);
            File.WriteAllText(StagingPath(".write-test"), "");
            File.Delete(StagingPath(".write-test"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new OutputException($"cannot write to output folder {path}: {ex.Message}", ex);
        }
    }

    public string Path { get; }

    public string Staging { get; }

    /// <summary>Where to write a file that will be named <paramref name="name"/> once committed.</summary>
    public string StagingPath(string name) => System.IO.Path.Combine(Staging, name);

    public string FinalPath(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Moves every staged file to its final name, replacing older results of the same name.</summary>
    public IReadOnlyList<string> Commit()
    {
        var committed = new List<string>();
        foreach (var file in Directory.EnumerateFiles(Staging).Order(StringComparer.Ordinal))
        {
            var target = FinalPath(System.IO.Path.GetFileName(file));
            File.Move(file, target, overwrite: true);
            committed.Add(target);
        }
        Directory.Delete(Staging, recursive: true);
        _committed = true;
        return committed;
    }

    public void Dispose()
    {
        if (!_committed && Directory.Exists(Staging))
        {
            Directory.Delete(Staging, recursive: true);
        }
        if (!_committed && _made && Directory.Exists(Path) && !Directory.EnumerateFileSystemEntries(Path).Any())
        {
            Directory.Delete(Path); // a failed run leaves no empty folder of its own making
        }
    }
}
