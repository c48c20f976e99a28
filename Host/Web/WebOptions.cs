using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.Extensions.Options;

namespace Edge.Host.Web;

/// <summary>The dashboard, REST API, /metrics and /healthz of <c>edge run</c>. Config section "Web".</summary>
public sealed class WebOptions
{
    public const string Section = "Web";

    public bool Enabled { get; set; } = true;

    /// <summary>Where Kestrel listens, ';'-separated (http://HOST:PORT). Port 0 picks a free port.</summary>
    public string Urls { get; set; } = "http://127.0.0.1:8080";

    /// <summary>
    /// Bearer token every request but /healthz must carry (<c>Authorization: Bearer …</c>; reads also accept
    /// <c>?token=…</c>); required when a URL is not loopback. Empty on loopback: a token is generated at first start into
    /// the service's data directory (mode 0600); changes need it, reads from this machine do not.
    /// </summary>
    public string ApiToken { get; set; } = "";

    /// <summary>
    /// Host names (';'-separated) the server answers to besides those of <see cref="Urls"/>, localhost and IP
    /// addresses, e.g. "edge-box.local". A request naming another host is refused, which stops DNS rebinding.
    /// </summary>
    public string AllowedHosts { get; set; } = "";

    /// <summary>How long a signed media URL (previews, snapshots, clips) stays valid.</summary>
    [Range(1, 86_400)]
    public int MediaUrlSeconds { get; set; } = 300;

    /// <summary>
    /// Certificate for <c>https://</c> URLs: a PEM file (with <see cref="CertificateKeyFile"/>) or a PKCS#12 file
    /// (.pfx/.p12, with <see cref="CertificatePassword"/> if it has one). Empty = no HTTPS.
    /// </summary>
    public string CertificateFile { get; set; } = "";

    /// <summary>PEM private key of a PEM <see cref="CertificateFile"/>.</summary>
    public string CertificateKeyFile { get; set; } = "";

    /// <summary>Password of a PKCS#12 certificate or of an encrypted PEM key (better in EDGE_Web__CertificatePassword).</summary>
    public string CertificatePassword { get; set; } = "";

    /// <summary>Shortest time between two live-preview JPEGs of a stream: caps the encoding cost per stream.</summary>
    [Range(20, 60_000)]
    public int PreviewIntervalMs { get; set; } = 200;

    /// <summary>JPEG quality of the live previews.</summary>
    [Range(10, 100)]
    public int PreviewQuality { get; set; } = 75;

    public const int MinTokenLength = 16;

    /// <summary>Whether any URL is https:// (then <see cref="CertificateFile"/> is required).</summary>
    public bool UsesHttps => UrlList.Any(u => u.StartsWith("https://", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Loads <see cref="CertificateFile"/> with its private key (the caller owns it); a file that is not a certificate,
    /// a key that does not match or a wrong password is a <see cref="ConfigException"/> naming the file.
    /// </summary>
    public System.Security.Cryptography.X509Certificates.X509Certificate2 LoadCertificate()
    {
        try
        {
            var pkcs12 = CertificateKeyFile.Length == 0
                && !File.ReadAllText(CertificateFile).Contains("-----BEGIN", StringComparison.Ordinal);
            if (pkcs12)
            {
                return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12FromFile(
                    CertificateFile, CertificatePassword.Length > 0 ? CertificatePassword : null);
            }
            using var pem = CertificatePassword.Length > 0
                ? System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromEncryptedPemFile(CertificateFile, CertificatePassword,
                    CertificateKeyFile.Length > 0 ? CertificateKeyFile : null)
                : System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(CertificateFile,
                    CertificateKeyFile.Length > 0 ? CertificateKeyFile : null);
            // Exported and loaded again: TLS on Linux serves a key only from a certificate that owns it.
            return System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
                pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), null);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new ConfigException($"Web:CertificateFile {CertificateFile} cannot be loaded with its key: {ex.Message}", ex);
        }
    }

    public string[] UrlList => Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public string[] AllowedHostList => AllowedHosts.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Parses a Kestrel URL; its wildcard hosts (* and +) mean every address.</summary>
    public static bool TryParseUrl(string url, out Uri uri) =>
        Uri.TryCreate(url.Replace("://*:", "://0.0.0.0:", StringComparison.Ordinal).Replace("://+:", "://0.0.0.0:", StringComparison.Ordinal),
            UriKind.Absolute, out uri!);

    /// <summary>Whether a URL only accepts connections from this machine.</summary>
    public static bool IsLoopback(Uri url) =>
        url.IsLoopback || (IPAddress.TryParse(url.Host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}

/// <summary>
/// URLs must parse, and a URL reachable from other machines needs a token: an open API could add streams and read
/// every event. Messages name keys, never the token.
/// </summary>
public sealed class WebOptionsValidator : IValidateOptions<WebOptions>
{
    public ValidateOptionsResult Validate(string? name, WebOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }
        var failures = new List<string>();
        var urls = options.UrlList;
        if (urls.Length == 0)
        {
            failures.Add("Web:Urls is empty; give at least one URL such as http://127.0.0.1:8080");
        }
        var exposed = new List<string>();
        foreach (var url in urls)
        {
            if (!WebOptions.TryParseUrl(url, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
                || uri.AbsolutePath != "/" || uri.Host.Length == 0)
            {
                failures.Add($"Web:Urls entry '{url}' is not an http://HOST:PORT URL (or https://HOST:PORT with Web:CertificateFile)");
            }
            else if (uri.Scheme == Uri.UriSchemeHttps && string.IsNullOrWhiteSpace(options.CertificateFile))
            {
                failures.Add($"Web:Urls entry '{url}' is https:// but Web:CertificateFile is not set");
            }
            else if (!WebOptions.IsLoopback(uri))
            {
                exposed.Add(url);
            }
        }
        if (exposed.Count > 0 && string.IsNullOrEmpty(options.ApiToken))
        {
            failures.Add($"Web:ApiToken must be set when Web:Urls listens beyond this machine ({string.Join(", ", exposed)})");
        }
        if (options.CertificateFile.Length > 0 && !File.Exists(options.CertificateFile))
        {
            failures.Add($"Web:CertificateFile: file not found: {options.CertificateFile}");
        }
        if (options.CertificateKeyFile.Length > 0 && !File.Exists(options.CertificateKeyFile))
        {
            failures.Add($"Web:CertificateKeyFile: file not found: {options.CertificateKeyFile}");
        }
        if (options.ApiToken.Length is > 0 and < WebOptions.MinTokenLength)
        {
            failures.Add($"Web:ApiToken must be at least {WebOptions.MinTokenLength} characters");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
