using System.Collections;
using System.Reflection;
using Edge.Capture;
using Edge.Host.Delivery;
using Edge.Host.Web;
using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Serilog;
using Serilog.Filters;

namespace Edge.Host;

/// <summary>
/// Builds the Generic Host for a verb: configuration from config/edge.json (or --config), EDGE_* environment
/// variables and command-line flags, in rising priority; options bound strictly (an unknown key is an error naming
/// the key) and validated at start; Serilog to stderr and a rolling file.
/// </summary>
public static class EdgeConfiguration
{
    public const string DefaultConfigPath = "config/edge.json";
    public const string EnvironmentPrefix = "EDGE_";

    /// <summary>Property marking a log event as an expected failure already shown to the user in one line.</summary>
    public const string ShownToUser = "ShownToUser";

    private static readonly Dictionary<string, Type> s_sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [CaptureOptions.Section] = typeof(CaptureOptions),
        [ReconnectOptions.Section] = typeof(ReconnectOptions),
        [PipelineOptions.Section] = typeof(PipelineOptions),
        [ModelOptions.Section] = typeof(ModelOptions),
        [AnalysisOptions.Section] = typeof(AnalysisOptions),
        [ObjectOptions.Section] = typeof(ObjectOptions),
        [Edge.Pipeline.Events.EventRules.Section] = typeof(Edge.Pipeline.Events.EventRules),
        [LoggingOptions.Section] = typeof(LoggingOptions),
        [DeliveryOptions.Section] = typeof(DeliveryOptions),
        [Service.ServiceOptions.Section] = typeof(Service.ServiceOptions),
        [WebOptions.Section] = typeof(WebOptions),
    };

    /// <summary>The config file to read: the one given, else config/edge.json here, else the copy beside the binary.</summary>
    public static string? FindConfigFile(string? requested)
    {
        if (requested is not null)
        {
            return File.Exists(requested) ? Path.GetFullPath(requested)
                : throw new ConfigException($"config file not found: {requested}");
        }
        if (File.Exists(DefaultConfigPath))
        {
            return Path.GetFullPath(DefaultConfigPath);
        }
        var besideBinary = Path.Combine(AppContext.BaseDirectory, DefaultConfigPath);
        return File.Exists(besideBinary) ? besideBinary : null;
    }

    public static IHost Build(string? configPath, IDictionary<string, string?> overrides)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings
        {
            ContentRootPath = Directory.GetCurrentDirectory(),
        });
        var configuration = ReadConfiguration(configPath, overrides);
        builder.Configuration.AddConfiguration(configuration);

        AddOptions<CaptureOptions>(builder, CaptureOptions.Section);
        AddOptions<ReconnectOptions>(builder, ReconnectOptions.Section);
        builder.Services.AddSingleton<IValidateOptions<ReconnectOptions>, ReconnectOptionsValidator>();
        AddOptions<PipelineOptions>(builder, PipelineOptions.Section);
        AddOptions<ModelOptions>(builder, ModelOptions.Section);
        AddOptions<AnalysisOptions>(builder, AnalysisOptions.Section);
        AddOptions<ObjectOptions>(builder, ObjectOptions.Section);
        builder.Services.AddSingleton<IValidateOptions<ObjectOptions>, ObjectOptionsValidator>();
        AddOptions<Edge.Pipeline.Events.EventRules>(builder, Edge.Pipeline.Events.EventRules.Section);
        builder.Services.AddSingleton<IValidateOptions<Edge.Pipeline.Events.EventRules>, EventRulesValidator>();
        AddOptions<LoggingOptions>(builder, LoggingOptions.Section);
        AddOptions<DeliveryOptions>(builder, DeliveryOptions.Section);
        builder.Services.AddSingleton<IValidateOptions<DeliveryOptions>, DeliveryOptionsValidator>();
        AddOptions<Service.ServiceOptions>(builder, Service.ServiceOptions.Section);
        builder.Services.AddSingleton<IValidateOptions<Service.ServiceOptions>, Service.ServiceOptionsValidator>();
        AddOptions<WebOptions>(builder, WebOptions.Section);
        builder.Services.AddSingleton<IValidateOptions<WebOptions>, WebOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<CaptureOptions>, CaptureOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<PipelineOptions>, PipelineOptionsValidator>();

        var logging = new LoggingOptions();
        try
        {
            builder.Configuration.GetSection(LoggingOptions.Section).Bind(logging);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException($"invalid config: {ex.Message}", ex);
        }
        builder.Services.AddSerilog(CreateLogger(logging), dispose: true);
        return builder.Build();
    }

    /// <summary>Reads the config file, EDGE_* variables and overrides, and checks every key against the known sections.</summary>
    private static IConfigurationRoot ReadConfiguration(string? configPath, IDictionary<string, string?> overrides)
    {
        var file = FindConfigFile(configPath);
        var edgeConfiguration = new ConfigurationBuilder();
        if (file is not null)
        {
            edgeConfiguration.AddJsonFile(file, optional: false, reloadOnChange: false);
        }
        edgeConfiguration.AddEnvironmentVariables(EnvironmentPrefix);
        edgeConfiguration.AddInMemoryCollection(overrides);
        IConfigurationRoot configuration;
        try
        {
            configuration = edgeConfiguration.Build();
        }
        catch (InvalidDataException ex)
        {
            throw new ConfigException($"config file {file} is not valid JSON: {ex.InnerException?.Message ?? ex.Message}", ex);
        }
        CheckKeys(configuration, file);
        return configuration;
    }

    /// <summary>
    /// Reads and validates the Service section again (a reload of the running service), with the same strictness as
    /// at start; a <see cref="ConfigException"/> names what is wrong.
    /// </summary>
    public static Service.ServiceOptions ReloadServiceOptions(string? configPath, IDictionary<string, string?> overrides)
    {
        var configuration = ReadConfiguration(configPath, overrides);
        var options = new Service.ServiceOptions();
        try
        {
            configuration.GetSection(Service.ServiceOptions.Section).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException($"invalid config: {ex.Message}", ex);
        }
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true);
        var failures = results.Select(r => $"Service: {r.ErrorMessage}").ToList();
        if (new Service.ServiceOptionsValidator().Validate(null, options) is { Failed: true } invalid)
        {
            failures.AddRange(invalid.Failures);
        }
        return failures.Count == 0 ? options : throw new ConfigException($"invalid config: {string.Join("; ", failures)}");
    }

    /// <summary>Resolves and validates every options section now, so a bad value fails before any work starts.</summary>
    public static void ValidateOptions(IServiceProvider services)
    {
        try
        {
            _ = services.GetRequiredService<IOptions<CaptureOptions>>().Value;
            _ = services.GetRequiredService<IOptions<ReconnectOptions>>().Value;
            _ = services.GetRequiredService<IOptions<PipelineOptions>>().Value;
            _ = services.GetRequiredService<IOptions<ModelOptions>>().Value;
            _ = services.GetRequiredService<IOptions<AnalysisOptions>>().Value;
            _ = services.GetRequiredService<IOptions<ObjectOptions>>().Value;
            _ = services.GetRequiredService<IOptions<Edge.Pipeline.Events.EventRules>>().Value;
            _ = services.GetRequiredService<IOptions<LoggingOptions>>().Value;
            _ = services.GetRequiredService<IOptions<DeliveryOptions>>().Value;
            _ = services.GetRequiredService<IOptions<Service.ServiceOptions>>().Value;
            _ = services.GetRequiredService<IOptions<WebOptions>>().Value;
        }
        catch (OptionsValidationException ex)
        {
            throw new ConfigException($"invalid config: {string.Join("; ", ex.Failures)}", ex);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException($"invalid config: {ex.Message}", ex);
        }
    }

    private static void AddOptions<T>(HostApplicationBuilder builder, string section) where T : class
    {
        builder.Services.AddOptions<T>()
            .Bind(builder.Configuration.GetSection(section), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateDataAnnotations()
            .ValidateOnStart();
    }

    /// <summary>Every key must name a known section and a property of its options: typos are errors, not defaults.</summary>
    private static void CheckKeys(IConfiguration configuration, string? file)
    {
        var where = file is null ? "configuration" : $"configuration ({file} or {EnvironmentPrefix}* variables)";
        foreach (var section in configuration.GetChildren())
        {
            if (!s_sections.TryGetValue(section.Key, out var type))
            {
                throw new ConfigException($"unknown config section '{section.Key}' in {where}; known sections: {string.Join(", ", s_sections.Keys)}");
            }
            CheckKeys(section, type, section.Key, where);
        }
    }

    /// <summary>Checks a section's keys against its options type, and nested sections (e.g. Delivery:Mqtt) against theirs.</summary>
    private static void CheckKeys(IConfigurationSection section, Type type, string path, string where)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var key in section.GetChildren())
        {
            if (!properties.TryGetValue(key.Key, out var property))
            {
                throw new ConfigException($"unknown config key '{path}:{key.Key}' in {where}; known keys: {string.Join(", ", properties.Keys.Order())}");
            }
            var nested = property.PropertyType;
            if (nested.IsGenericType && nested.GetGenericTypeDefinition() == typeof(List<>)
                && nested.GetGenericArguments()[0] is { IsClass: true } element && element != typeof(string))
            {
                // A list of options objects (Service:Streams): each entry is checked against the element type.
                foreach (var entry in key.GetChildren())
                {
                    CheckKeys(entry, element, $"{path}:{key.Key}:{entry.Key}", where);
                }
                continue;
            }
            if (nested.IsClass && nested != typeof(string) && !typeof(IEnumerable).IsAssignableFrom(nested))
            {
                CheckKeys(key, nested, $"{path}:{key.Key}", where);
            }
        }
    }

    private static Serilog.ILogger CreateLogger(LoggingOptions options)
    {
        var config = new LoggerConfiguration()
            .MinimumLevel.Is(options.FileLevel < options.ConsoleLevel ? options.FileLevel : options.ConsoleLevel)
            .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
            .Enrich.FromLogContext()
            .WriteTo.Logger(console => console
                .Filter.ByExcluding(Matching.WithProperty(ShownToUser))
                .WriteTo.Console(restrictedToMinimumLevel: options.ConsoleLevel,
                    outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}",
                    standardErrorFromLevel: Serilog.Events.LogEventLevel.Verbose));
        if (!string.IsNullOrWhiteSpace(options.File))
        {
            config.WriteTo.File(options.File, restrictedToMinimumLevel: options.FileLevel,
                rollingInterval: RollingInterval.Day, retainedFileCountLimit: options.RetainedFiles,
                outputTemplate: "{Timestamp:yyyy-MM-dd HH:mm:ss.fff zzz} [{Level:u3}] {SourceContext} {Message:lj}{NewLine}{Exception}");
        }
        return config.CreateLogger();
    }
}

internal sealed class CaptureOptionsValidator : IValidateOptions<CaptureOptions>
{
    public ValidateOptionsResult Validate(string? name, CaptureOptions options) =>
        (options.ResizeWidth == 0) != (options.ResizeHeight == 0)
            ? ValidateOptionsResult.Fail("Capture:ResizeWidth and Capture:ResizeHeight must be set together (or both 0)")
            : ValidateOptionsResult.Success;
}

internal sealed class ReconnectOptionsValidator : IValidateOptions<ReconnectOptions>
{
    public ValidateOptionsResult Validate(string? name, ReconnectOptions options) =>
        options.CrossFieldError() is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}

internal sealed class PipelineOptionsValidator : IValidateOptions<PipelineOptions>
{
    public ValidateOptionsResult Validate(string? name, PipelineOptions options) =>
        options.CaptureQueue < options.BatchSize
            ? ValidateOptionsResult.Fail($"Pipeline:CaptureQueue ({options.CaptureQueue}) must hold at least one batch (Pipeline:BatchSize {options.BatchSize})")
            : ValidateOptionsResult.Success;
}

internal sealed class EventRulesValidator : IValidateOptions<Edge.Pipeline.Events.EventRules>
{
    public ValidateOptionsResult Validate(string? name, Edge.Pipeline.Events.EventRules rules) =>
        rules.AnomalyExit > rules.AnomalyEnter || rules.ActivityExit > rules.ActivityEnter
            ? ValidateOptionsResult.Fail("Events: an exit threshold must not be above its enter threshold (AnomalyExit <= AnomalyEnter, ActivityExit <= ActivityEnter)")
            : ValidateOptionsResult.Success;
}

internal sealed class ObjectOptionsValidator : IValidateOptions<ObjectOptions>
{
    public ValidateOptionsResult Validate(string? name, ObjectOptions options) =>
        options.Enabled && string.IsNullOrWhiteSpace(options.HeadModel)
            ? ValidateOptionsResult.Fail("Objects:HeadModel must name a classification head while Objects:Enabled is true")
            : ValidateOptionsResult.Success;
}
