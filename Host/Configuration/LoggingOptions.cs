using System.ComponentModel.DataAnnotations;
using Serilog.Events;

namespace Edge.Host;

/// <summary>Where logs go. Config section "Logging".</summary>
public sealed class LoggingOptions
{
    public const string Section = "Logging";

    /// <summary>Lowest level written to the console (stderr).</summary>
    public LogEventLevel ConsoleLevel { get; set; } = LogEventLevel.Information;

    /// <summary>Lowest level written to the log file.</summary>
    public LogEventLevel FileLevel { get; set; } = LogEventLevel.Debug;

    /// <summary>Rolling log file; the date is inserted before the extension. Empty turns file logging off.</summary>
    public string File { get; set; } = "logs/edge-.log";

    [Range(1, 365)]
    public int RetainedFiles { get; set; } = 14;
}
