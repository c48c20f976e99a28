using System.Buffers.Text;
using System.Security.Cryptography;

namespace Edge.Host.Web;

/// <summary>
/// The API token of <c>edge run</c>: <c>Web:ApiToken</c> when configured; otherwise one generated at first start into
/// <c>DATA/api-token</c> (readable only by the service's user, mode 0600) and read from there on every later start.
/// </summary>
/// <param name="Value">The token; never logged.</param>
/// <param name="Configured">True for <c>Web:ApiToken</c>: every request but /healthz needs it. A generated token guards
/// changes only; reads stay open to this machine (the URLs are loopback, the validator sees to it).</param>
public sealed record WebToken(string Value, bool Configured)
{
    public const string FileName = "api-token";

    /// <summary>The configured token, or the one kept in <paramref name="dataDirectory"/> (created when missing).</summary>
    /// <param name="created">The file written now, the first start: its owner shows the token once; null otherwise.</param>
    public static WebToken Resolve(WebOptions options, string dataDirectory, out string? created)
    {
        created = null;
        if (options.ApiToken.Length > 0)
        {
            return new WebToken(options.ApiToken, Configured: true);
        }
        var path = Path.Combine(dataDirectory, FileName);
        var (token, isNew) = LoadOrCreate(path);
        if (isNew)
        {
            created = path;
        }
        return new WebToken(token, Configured: false);
    }

    /// <summary>
    /// Reads the token file, or creates it with a new random token (256 bits, base64url). A file that others can read
    /// is narrowed to 0600 first. Throws <see cref="ConfigException"/> for a file that holds no usable token.
    /// </summary>
    public static (string Token, bool Created) LoadOrCreate(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        var token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        try
        {
            // CreateNew with the mode set at creation: the token is never readable by others, not even for a moment.
            var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
            if (!OperatingSystem.IsWindows())
            {
                create.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }
            using var file = new FileStream(path, create);
            using var writer = new StreamWriter(file);
            writer.Write(token + "\n");
            return (token, true);
        }
        catch (IOException) when (File.Exists(path))
        {
            // Kept from an earlier start (or another process made it just now).
        }
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite
            | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var kept = File.ReadAllText(path).Trim();
        if (kept.Length < WebOptions.MinTokenLength)
        {
            throw new ConfigException($"the API token file {path} holds no token of at least {WebOptions.MinTokenLength} characters; delete it to have a new one generated, or set Web:ApiToken");
        }
        return (kept, false);
    }
}
