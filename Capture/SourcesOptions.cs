using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Edge.Capture;

/// <summary>
/// Which sources a <see cref="SourcePolicy"/> lets through. Config section "Sources". The defaults are the safe ones for
/// a service whose streams arrive through its API: network cameras (rtsp, rtsps, http, https), local cameras, and no
/// files at all until folders are named in <see cref="FileRoots"/>.
/// </summary>
public sealed class SourcesOptions
{
    public const string Section = "Sources";

    /// <summary>Comma-separated URL schemes allowed for network streams; see <see cref="SourcePolicy.SupportedSchemes"/>.</summary>
    /// <remarks>A string, not a list: configuration binding appends a configured list to a default one.</remarks>
    [Required(AllowEmptyStrings = true)]
    [RegularExpression(@"^[A-Za-z0-9+.\-, ]*$", ErrorMessage = "Sources:Schemes is a comma-separated list of URL schemes (e.g. \"rtsp,rtsps,http,https\")")]
    public string Schemes { get; set; } = SourcePolicy.DefaultSchemes;

    /// <summary>Whether local cameras ("0", "/dev/video0") may be opened.</summary>
    public bool AllowCameras { get; set; } = true;

    /// <summary>
    /// Folders whose video files and image folders a service stream may read (after resolving symbolic links and
    /// ".."); relative folders are taken from the current directory. Empty: no files. The command line
    /// (<c>edge process FILE</c>) is not bound by this list: there the user names the file.
    /// </summary>
    [Required]
    public List<string> FileRoots { get; set; } = [];

    /// <summary>What is wrong beyond the attributes: unknown or never-allowed schemes, roots that are not folders.</summary>
    public IReadOnlyList<string> Problems()
    {
        var problems = new List<string>();
        foreach (var scheme in SourcePolicy.ParseSchemes(Schemes))
        {
            if (!SourcePolicy.SupportedSchemes.Contains(scheme))
            {
                problems.Add($"Sources:Schemes: '{scheme}' cannot be allowed; supported: {string.Join(", ", SourcePolicy.SupportedSchemes)}");
            }
        }
        for (var i = 0; i < FileRoots.Count; i++)
        {
            var root = FileRoots[i];
            if (string.IsNullOrWhiteSpace(root) || root.Any(char.IsControl))
            {
                problems.Add($"Sources:FileRoots:{i}: a folder path is needed");
            }
            else if (!Directory.Exists(root))
            {
                problems.Add($"Sources:FileRoots:{i}: folder not found: {root}");
            }
        }
        return problems;
    }

    /// <summary>Throws <see cref="ValidationException"/> when a field is out of range or a rule above fails.</summary>
    public void Validate()
    {
        Validator.ValidateObject(this, new ValidationContext(this), validateAllProperties: true);
        if (Problems() is { Count: > 0 } problems)
        {
            throw new ValidationException(string.Join("; ", problems));
        }
    }
}

/// <summary>The rules of <see cref="SourcesOptions.Problems"/> for options bound with <c>ValidateOnStart</c>.</summary>
public sealed class SourcesOptionsValidator : IValidateOptions<SourcesOptions>
{
    public ValidateOptionsResult Validate(string? name, SourcesOptions options) =>
        options.Problems() is { Count: > 0 } problems ? ValidateOptionsResult.Fail(problems) : ValidateOptionsResult.Success;
}
