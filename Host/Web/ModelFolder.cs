namespace Edge.Host.Web;

/// <summary>
/// The rule for model files named through the API: a relative path inside <c>Models:Directory</c>, without '..', and
/// when it is a symbolic link, one whose target is inside too. Every refusal has the same message, so an API client
/// learns nothing about files outside the folder, not even whether they exist.
/// </summary>
internal sealed class ModelFolder(string directory)
{
    private readonly string _root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(directory)) + Path.DirectorySeparatorChar;

    /// <summary>
    /// Null when <paramref name="value"/> is empty (the service's default model) or a model file inside the folder,
    /// with its full path in <paramref name="resolved"/>; otherwise the problem, for a 400.
    /// </summary>
    public string? Check(string field, string value, out string resolved)
    {
        resolved = "";
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }
        var outside = $"'{field}' must name a model file inside the models directory, as a relative path without '..' (such as \"vtest-anomaly.onnx\")";
        if (Path.IsPathRooted(value) || value.Contains('\\', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal)
            || value.Split('/').Any(part => part == ".."))
        {
            return outside;
        }
        var full = Path.GetFullPath(Path.Combine(_root, value));
        if (!full.StartsWith(_root, StringComparison.Ordinal))
        {
            return outside;
        }
        if (!File.Exists(full))
        {
            return $"'{field}': there is no model '{value}' in the models directory";
        }
        // A link inside the folder may point anywhere: only its final target counts, against the folder's real place.
        if (new FileInfo(full).ResolveLinkTarget(returnFinalTarget: true) is { } target
            && !Path.GetFullPath(target.FullName).StartsWith(RealRoot(), StringComparison.Ordinal))
        {
            return outside;
        }
        resolved = full;
        return null;
    }

    /// <summary>A service message with the folder's absolute path left out: the client named files relative to it.</summary>
    public string Relative(string message) => message.Replace(_root, "", StringComparison.Ordinal);

    private string RealRoot()
    {
        var folder = new DirectoryInfo(_root);
        return folder.ResolveLinkTarget(returnFinalTarget: true) is { } target
            ? Path.TrimEndingDirectorySeparator(target.FullName) + Path.DirectorySeparatorChar
            : _root;
    }
}
