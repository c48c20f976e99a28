using System.Collections;
using System.Reflection;
using Edge.Capture;
using Edge.Pipeline.Delivery;
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

        foreach (var section in OptionsTable.Sections)
        {
            section.Register(builder.Services, builder.Configuration);
        }

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
    /// Reads and validates one section again (a reload of the running service), with the same strictness and rules as
    /// at start; a <see cref="ConfigException"/> names what is wrong.
    /// </summary>
    public static T Reload<T>(string? configPath, IDictionary<string, string?> overrides) where T : class, new()
    {
        var configuration = ReadConfiguration(configPath, overrides);
        var section = OptionsTable.Sections.Single(s => s.Type == typeof(T));
        var options = new T();
        try
        {
            configuration.GetSection(section.Name).Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            throw new ConfigException($"invalid config: {ex.Message}", ex);
        }
        var failures = section.Validate(options);
        return failures.Count == 0 ? options : throw new ConfigException($"invalid config: {string.Join("; ", failures)}");
    }

    /// <summary>Resolves and validates every options section now, so a bad value fails before any work starts.</summary>
    public static void ValidateOptions(IServiceProvider services)
    {
        try
        {
            foreach (var section in OptionsTable.Sections)
            {
                _ = section.Resolve(services);
            }
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

    /// <summary>Every key must name a known section and a property of its options: typos are errors, not defaults.</summary>
    private static void CheckKeys(IConfiguration configuration, string? file)
    {
        var where = file is null ? "configuration" : $"configuration ({file} or {EnvironmentPrefix}* variables)";
        foreach (var section in configuration.GetChildren())
        {
            if (OptionsTable.Find(section.Key) is not { } known)
            {
                throw new ConfigException($"unknown config section '{section.Key}' in {where}; known sections: {string.Join(", ", OptionsTable.Sections.Select(s => s.Name))}");
            }
            CheckKeys(section, known.Type, section.Key, where);
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
