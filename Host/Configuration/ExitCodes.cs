using Edge.Capture;
using Edge.Models;

namespace Edge.Host;

/// <summary>Distinct exit codes for the failures a user can cause and fix; README lists them.</summary>
public static class ExitCodes
{
    public const int Ok = 0;
    public const int Unexpected = 1;
    public const int Usage = 2;
    public const int Config = 3;
    public const int InputNotFound = 4;
    public const int InputUndecodable = 5;
    public const int InputTruncated = 6;
    public const int SourceUnreachable = 7;
    public const int ModelNotFound = 8;
    public const int ModelInvalid = 9;
    public const int ProviderUnavailable = 10;
    public const int OutputNotWritable = 11;
    public const int TrainingDataUnusable = 12;
    public const int NativeLibraryMissing = 13;
    public const int SourceRefused = 14;
    public const int Interrupted = 130;

    public static int For(CaptureError error) => error switch
    {
        CaptureError.NotFound => InputNotFound,
        CaptureError.Undecodable => InputUndecodable,
        CaptureError.Truncated => InputTruncated,
        CaptureError.Unreachable => SourceUnreachable,
        CaptureError.Refused => SourceRefused,
        _ => Unexpected,
    };

    public static int For(ModelError error) => error switch
    {
        ModelError.NotFound => ModelNotFound,
        ModelError.Invalid => ModelInvalid,
        ModelError.ProviderUnavailable => ProviderUnavailable,
        _ => Unexpected,
    };
}

/// <summary>A configuration failure with a message for the user (exit code 3).</summary>
public sealed class ConfigException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// A command-line value out of its range, or options that do not go together, found by a verb before it starts
/// (exit code 2, as for what the parser refuses).
/// </summary>
public sealed class UsageException(string message) : Exception(message);
