using System.Buffers.Text;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Edge.Host.Web;

/// <summary>
/// Who may do what on the web layer, request by request: the Host and Origin a request may name, the token changes
/// need (and reads, when <c>Web:ApiToken</c> is configured), and short-lived signed URLs for media that an
/// <c>&lt;img&gt;</c> or a link must load without a header. Holds a random signing key made per process: signed URLs
/// do not survive a restart, and the key is never written anywhere. Thread-safe.
/// </summary>
public sealed partial class WebGuard
{
    private readonly byte[] _token;
    private readonly byte[] _signingKey = RandomNumberGenerator.GetBytes(32);
    private readonly HashSet<string> _hosts = new(StringComparer.OrdinalIgnoreCase) { "localhost" };
    private readonly TimeProvider _time;

    public WebGuard(WebOptions options, WebToken token, TimeProvider? time = null)
    {
        _token = Encoding.UTF8.GetBytes(token.Value);
        ReadsNeedToken = token.Configured;
        MediaUrlLifetime = TimeSpan.FromSeconds(options.MediaUrlSeconds);
        _time = time ?? TimeProvider.System;
        foreach (var url in options.UrlList)
        {
            if (WebOptions.TryParseUrl(url, out var uri))
            {
                _hosts.Add(uri.Host.Trim('[', ']'));
            }
        }
        foreach (var host in options.AllowedHostList)
        {
            _hosts.Add(host.Trim('[', ']'));
        }
    }

    /// <summary>False on loopback with a generated token: reads are open to this machine, changes need the token.</summary>
    public bool ReadsNeedToken { get; }

    public TimeSpan MediaUrlLifetime { get; }

    /// <summary>
    /// Whether the Host header names this server: localhost, an IP address (a browser that sends one was pointed at
    /// that address, so no DNS answer was involved), a host of <c>Web:Urls</c> or one of <c>Web:AllowedHosts</c>. Any
    /// other name reached this server through a DNS answer its owner controls: DNS rebinding.
    /// </summary>
    public bool IsAllowedHost(HostString host)
    {
        if (!host.HasValue)
        {
            return false;
        }
        var name = host.Host.Trim('[', ']');
        return _hosts.Contains(name) || IPAddress.TryParse(name, out _);
    }

    /// <summary>An Origin header, when a browser sends one, must be this very server as the request names it (same origin).</summary>
    public static bool IsSameOrigin(string origin, HostString host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
        && string.Equals(uri.Host.Trim('[', ']'), host.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
        && (host.Port is { } port ? port == uri.Port : uri.IsDefaultPort);

    /// <summary>The token in an <c>Authorization: Bearer</c> header.</summary>
    public bool HasBearer(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) && Matches(header[7..].Trim());
    }

    /// <summary>The token as <c>?token=</c>: accepted on reads only (bookmarks, scrapers that cannot send a header).</summary>
    public bool HasQueryToken(HttpRequest request) => Matches(request.Query["token"].ToString());

    private bool Matches(string given) =>
        given.Length > 0 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), _token);

    /// <summary>Paths that may be signed: a stream's previews, an event's snapshot and clip.</summary>
    public static bool IsMediaPath(string path) => MediaPath().IsMatch(path);

    /// <summary><paramref name="path"/> with <c>exp</c> (Unix seconds) and <c>sig</c> (HMAC-SHA256 of path and expiry).</summary>
    public (string Url, DateTimeOffset Expires) Sign(string path)
    {
        var expires = _time.GetUtcNow() + MediaUrlLifetime;
        var exp = expires.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture);
        return ($"{path}?exp={exp}&sig={Signature(path, exp)}", DateTimeOffset.FromUnixTimeSeconds(long.Parse(exp, CultureInfo.InvariantCulture)));
    }

    /// <summary>A media request whose <c>exp</c> is still ahead and whose <c>sig</c> is this process's signature of its path and <c>exp</c>.</summary>
    public bool HasValidSignature(HttpRequest request)
    {
        var path = request.Path.Value ?? "";
        var exp = request.Query["exp"].ToString();
        var sig = request.Query["sig"].ToString();
        if (!IsMediaPath(path) || sig.Length == 0
            || !long.TryParse(exp, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            || _time.GetUtcNow().ToUnixTimeSeconds() >= seconds)
        {
            return false;
        }
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Signature(path, exp)), Encoding.ASCII.GetBytes(sig));
    }

    private string Signature(string path, string exp) =>
        Base64Url.EncodeToString(HMACSHA256.HashData(_signingKey, Encoding.UTF8.GetBytes(path + "\n" + exp)));

    /// <summary>
    /// A request from a page of another site, as the browser says (Sec-Fetch-Site, sent to https and loopback
    /// origins): refused for the API and metrics, so another site cannot even embed a preview or probe stream ids.
    /// </summary>
    public static bool IsCrossSite(HttpRequest request) =>
        request.Headers["Sec-Fetch-Site"].ToString() is { Length: > 0 } site && site is not ("same-origin" or "none");

    /// <summary>A body that claims to be JSON (application/json, any charset).</summary>
    public static bool IsJson(HttpRequest request) =>
        MediaTypeHeaderValue.TryParse(request.ContentType, out var type)
        && string.Equals(type.MediaType.Value, "application/json", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex("^/api/(streams/[A-Za-z0-9_-]{1,64}/preview\\.(jpg|mjpg)|events/[A-Za-z0-9_-]{1,128}/(snapshot|clip))$")]
    private static partial Regex MediaPath();
}
