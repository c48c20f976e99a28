using System.Text.RegularExpressions;

namespace Edge.Capture;

/// <summary>
/// The one function that removes credentials from text Capture shows or logs: source locations, status errors,
/// ffmpeg's messages, log lines and exception messages all pass through <see cref="Redact"/>.
/// </summary>
public static partial class Redaction
{
    public const string Mask = "***";

    /// <summary>
    /// Replaces with <c>***</c> the user information of every URL (<c>rtsp://user:pass@host</c> →
    /// <c>rtsp://***@host</c>, also when the password holds an unencoded <c>@ / ? #</c>) and the value of every
    /// <c>key=value</c> pair whose key looks like a credential: it contains, in any case, pass, pwd, token, key, auth,
    /// user, secret, sig, session or credential (so password, passwd, username, apikey, x-api-key, access_token,
    /// X-Amz-Signature are covered). Over-redacting a harmless key (monkey=1) is the accepted price of never missing a
    /// camera's <c>?user=admin&amp;pwd=...</c>.
    /// </summary>
    public static string Redact(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }
        var redacted = UserInfo().Replace(text, Mask + "@");
        redacted = UserInfoWithDelimiters().Replace(redacted, Mask + "@");
        redacted = CredentialPair().Replace(redacted, m => m.Groups["key"].Value + "=" + Mask);
        return AuthorizationHeader().Replace(redacted, m => m.Groups["scheme"].Value + " " + Mask);
    }

    /// <summary>
    /// The user information as RFC 3986 and ffmpeg parse it: everything after "://" up to the last '@' before the
    /// first '/', '?', '#' or blank. A password may hold unencoded '@' (rtsp://admin:p@ss@cam).
    /// </summary>
    [GeneratedRegex(@"(?<=://)[^\s/?#]*@")]
    private static partial Regex UserInfo();

    /// <summary>
    /// user:password@host where the password holds an unencoded '/', '?' or '#' (rtsp://admin:pa/ss@cam/live), which
    /// the rule above stops at. A host:port/path@x is not taken for one: the part after ':' may not start with a port.
    /// </summary>
    [GeneratedRegex(@"(?<=://)[^\s/?#@:]+:(?!\d+(?:[/?#\s]|$))[^\s@]*@(?=[A-Za-z0-9.\-\[\]]+(?::\d+)?(?:[/?#\s'"",;)]|$))")]
    private static partial Regex UserInfoWithDelimiters();

    /// <summary>key=value (in a query, a path segment or free text) whose key names a credential; a quoted value whole.</summary>
    [GeneratedRegex(@"(?<![A-Za-z0-9_.\-])(?<key>[A-Za-z0-9_.\-]*(?:pass|pwd|token|key|auth|user|secret|sig|session|credential)[A-Za-z0-9_.\-]*)=(?:""[^""]*""|[^&;#\s""'<>,]*)",
        RegexOptions.IgnoreCase)]
    private static partial Regex CredentialPair();

    /// <summary>An HTTP Authorization value (Basic/Bearer with a token) that a client might echo.</summary>
    [GeneratedRegex(@"(?<![A-Za-z])(?<scheme>Basic|Bearer)\s+[A-Za-z0-9+/=._~\-]{6,}", RegexOptions.IgnoreCase)]
    private static partial Regex AuthorizationHeader();
}
