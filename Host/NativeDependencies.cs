using System.Text.RegularExpressions;

namespace Edge.Host;

/// <summary>
/// Recognises a native library that failed to load because one of its dependencies is missing on this machine
/// (OpenCV's, ONNX Runtime's or libtorch's), and names the Debian package that provides it, from the table
/// <c>native-packages.tsv</c> shipped beside the binary (the same table <c>scripts/check-native.sh</c> reads).
/// </summary>
public static partial class NativeDependencies
{
    public const string TableFile = "native-packages.tsv";

    [GeneratedRegex(@"(lib[A-Za-z0-9_+.\-]+\.so(?:\.[0-9]+)*): cannot open shared object file")]
    private static partial Regex MissingLibrary();

    /// <summary>The one-line message for a load failure caused by a missing shared library, or null for any other failure.</summary>
    public static string? Describe(Exception ex)
    {
        for (var e = ex; e is not null; e = e.InnerException)
        {
            if (e is DllNotFoundException or BadImageFormatException && MissingLibrary().Match(e.Message) is { Success: true } match)
            {
                var library = match.Groups[1].Value;
                var package = PackageFor(library, Path.Combine(AppContext.BaseDirectory, TableFile));
                return package is null
                    ? $"the native library {library} is missing on this machine; install the package that provides it (Debian: apt-file search {library})"
                    : $"the native library {library} is missing on this machine; install it with: apt-get install {package}";
            }
        }
        return null;
    }

    /// <summary>The Debian package that provides <paramref name="library"/>, from the table, or null.</summary>
    public static string? PackageFor(string library, string tablePath)
    {
        if (!File.Exists(tablePath))
        {
            return null;
        }
        foreach (var line in File.ReadLines(tablePath))
        {
            var columns = line.Split('\t');
            if (columns.Length >= 2 && !line.StartsWith('#') && columns[0] == library)
            {
                return columns[1];
            }
        }
        return null;
    }
}
