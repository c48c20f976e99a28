using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Edge.Host.Service;

/// <summary>The <c>Service</c> section: what <c>edge run</c> runs and where it keeps events.</summary>
public sealed class ServiceOptions
{
    public const string Section = "Service";

    /// <summary>Events database, snapshots and clips (DataDirectory/events/).</summary>
    [Required]
    public string DataDirectory { get; set; } = "out/service";

    /// <summary>How long the shared CNN waits for other streams' frames before a call.</summary>
    [Range(0, 1000)]
    public double BatchWindowMs { get; set; } = 10;

    /// <summary>The most frames one CNN call takes across streams.</summary>
    [Range(1, 256)]
    public int MaxBatch { get; set; } = 16;

    /// <summary>
    /// Frames queued per stream before the CNN; when full, the oldest is dropped. Small keeps latency low: a frame
    /// waits at most this many frames' worth of analysis.
    /// </summary>
    [Range(1, 64)]
    public int LiveQueue { get; set; } = 4;

    /// <summary>Frame-age and fps statistics cover this many recent frames per stream.</summary>
    [Range(10, 100_000)]
    public int StatisticsWindow { get; set; } = 300;

    /// <summary>
    /// Most streams that run at once (config and API together): each costs a frame pool, threads and CNN time, so an
    /// API client cannot exhaust the machine by adding streams.
    /// </summary>
    [Range(1, 1024)]
    public int MaxStreams { get; set; } = 64;

    /// <summary>
    /// Bound of the first wait before a faulted stream (its set-up or a stage threw) is built and started again; it
    /// grows ×2 per fault in a row (full jitter, as reconnects) up to <see cref="MaxRestartBackoffMs"/>.
    /// </summary>
    [Range(10, 600_000)]
    public int RestartBackoffMs { get; set; } = 1_000;

    /// <summary>No wait before restarting a faulted stream is longer.</summary>
    [Range(10, 3_600_000)]
    public int MaxRestartBackoffMs { get; set; } = 60_000;

    /// <summary>
    /// A stream without an anomaly model learns one from its own footage: it records this many minutes of features,
    /// then learns in a child process at low priority and puts the model in without stopping. 0 = streams do not
    /// learn. A stream's <c>LearnMinutes</c> overrides it.
    /// </summary>
    [Range(0, 10_080)]
    public double LearnMinutes { get; set; } = 30;

    /// <summary>Most disk one stream's recording for learning may take (its features: about 100 kB a frame).</summary>
    [Range(10, 1_000_000)]
    public int LearnMaxDiskMb { get; set; } = 2048;

    public List<StreamOptions> Streams { get; set; } = [];
}

/// <summary>One entry of <c>Service:Streams</c>.</summary>
public sealed class StreamOptions
{
    [Required]
    [RegularExpression(StreamDefinition.IdPattern, ErrorMessage = StreamDefinition.IdRule)]
    public string Id { get; set; } = "";

    /// <summary>A file, camera ("0", "/dev/video0") or URL (rtsp://user:pass@host/path); credentials are never logged.</summary>
    [Required]
    public string Source { get; set; } = "";

    [Range(0, 1000)]
    public double TargetFps { get; set; }

    public bool Loop { get; set; }

    public string AnomalyModel { get; set; } = "";

    public string ActivityModel { get; set; } = "";

    /// <summary>This stream's event rules instead of the Events section (keys not given take their defaults).</summary>
    public Edge.Pipeline.Events.EventRules? Events { get; set; }

    /// <summary>Minutes of this stream's footage to learn its anomaly model from (0 = do not learn); empty: <c>Service:LearnMinutes</c>.</summary>
    [Range(0, 10_080)]
    public double? LearnMinutes { get; set; }

    /// <summary>This stream's zones and lines (the keys of the <c>Zones</c> section) instead of that section's.</summary>
    public Edge.Pipeline.Zones.ZoneLayoutOptions? Zones { get; set; }

    public StreamDefinition ToDefinition() => new(Id, Source, TargetFps, Loop, AnomalyModel, ActivityModel, Events, LearnMinutes) { Zones = Zones };
}

internal sealed class ServiceOptionsValidator : IValidateOptions<ServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, ServiceOptions options)
    {
        var failures = new List<string>();
        for (var i = 0; i < options.Streams.Count; i++)
        {
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(options.Streams[i], new ValidationContext(options.Streams[i]), results, validateAllProperties: true))
            {
                failures.AddRange(results.Select(r => $"Service:Streams:{i}: {r.ErrorMessage}"));
            }
            if (options.Streams[i].Events is { } rules && EventRulesProblem(rules) is { } problem)
            {
                failures.Add($"Service:Streams:{i}:Events: {problem}");
            }
            if (options.Streams[i].Zones is { } zones)
            {
                failures.AddRange(Edge.Pipeline.Zones.ZoneLayout.Check(zones).Select(p => $"Service:Streams:{i}: {p}"));
            }
        }
        // Ids are exact everywhere (StreamDefinition.IdComparer), but two may not differ only in case.
        if (options.MaxRestartBackoffMs < options.RestartBackoffMs)
        {
            failures.Add($"Service:MaxRestartBackoffMs ({options.MaxRestartBackoffMs}) must be at least Service:RestartBackoffMs ({options.RestartBackoffMs})");
        }
        failures.AddRange(options.Streams.GroupBy(s => s.Id, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1)
            .Select(g => $"Service:Streams: the stream id '{g.Key}' is used {g.Count()} times"));
        if (options.Streams.Count > options.MaxStreams)
        {
            failures.Add($"Service:Streams has {options.Streams.Count} streams, more than Service:MaxStreams ({options.MaxStreams})");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>What is wrong with a stream's own event rules (ranges, exit above enter), or null.</summary>
    internal static string? EventRulesProblem(Edge.Pipeline.Events.EventRules rules)
    {
        var results = new List<ValidationResult>();
        if (!Validator.TryValidateObject(rules, new ValidationContext(rules), results, validateAllProperties: true))
        {
            return string.Join("; ", results.Select(r => r.ErrorMessage));
        }
        if (rules.AnomalyExit > rules.AnomalyEnter || rules.ActivityExit > rules.ActivityEnter)
        {
            return "an exit threshold must not be above its enter threshold";
        }
        return rules.MinDurationMs > rules.MaxDurationMs ? "MinDurationMs must not be above MaxDurationMs" : null;
    }
}
