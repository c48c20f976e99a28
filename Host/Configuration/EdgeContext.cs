using Edge.Capture;
using Edge.Models;
using Edge.Pipeline;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Edge.Host;

/// <summary>The started host of one verb with its validated options. Disposing stops the host and flushes logs.</summary>
public sealed class EdgeContext : IAsyncDisposable
{
    private readonly IHost _host;
    private readonly Dictionary<Type, object> _options;

    private EdgeContext(IHost host, string? configPath, IDictionary<string, string?> overrides)
    {
        _host = host;
        ConfigPath = configPath;
        Overrides = overrides;
        _options = OptionsTable.Sections.ToDictionary(s => s.Type, s => s.Resolve(host.Services));
        LoggerFactory = host.Services.GetRequiredService<ILoggerFactory>();
        var file = host.Services.GetRequiredService<IOptions<LoggingOptions>>().Value.File;
        // Serilog's daily rolling file inserts the date before the extension.
        LogFile = string.IsNullOrWhiteSpace(file) ? null
            : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(file) ?? "",
                $"{Path.GetFileNameWithoutExtension(file)}{DateTime.Now:yyyyMMdd}{Path.GetExtension(file)}"));
    }

    /// <summary>The validated options of one section of <see cref="OptionsTable"/>.</summary>
    public T Get<T>() where T : class => (T)_options[typeof(T)];

    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Today's log file, or null when file logging is off.</summary>
    public string? LogFile { get; }

    /// <summary>The --config file given (null: the default search), for a reload.</summary>
    public string? ConfigPath { get; }

    /// <summary>The settings given by command-line flags, for a reload.</summary>
    public IDictionary<string, string?> Overrides { get; }

    public ILogger CreateLogger(string category) => LoggerFactory.CreateLogger(category);

    /// <summary>The model sections, for a <see cref="Edge.Pipeline.Composition.ModelCatalog"/>.</summary>
    public Edge.Pipeline.Composition.ModelSettings ModelSettings() => new(Get<ModelOptions>(), Get<AnalysisOptions>(), Get<ObjectOptions>());

    /// <summary>A catalog for one caller, the frame model taking batches of Pipeline:BatchSize frames.</summary>
    public Edge.Pipeline.Composition.ModelCatalog OpenModels() =>
        Edge.Pipeline.Composition.ModelCatalog.Open(ModelSettings(), Get<PipelineOptions>().BatchSize, LoggerFactory);

    /// <summary>Every frame's embedding of a video, as the pipeline computes it (a training or evaluation verb's input).</summary>
    public (float[] Values, int Rows) EmbedVideo(Edge.Pipeline.Composition.ModelCatalog models, string video, CaptureOptions capture, CancellationToken ct) =>
        Edge.Pipeline.Composition.VideoEmbedding.EmbedAsync(video, capture, models, LoggerFactory, ct).GetAwaiter().GetResult();

    /// <summary>Builds the host, validates every option (failing with a <see cref="ConfigException"/>) and starts it.</summary>
    public static async Task<EdgeContext> StartAsync(string? configPath, IDictionary<string, string?> overrides, CancellationToken ct)
    {
        var host = EdgeConfiguration.Build(configPath, overrides);
        try
        {
            EdgeConfiguration.ValidateOptions(host.Services);
            await host.StartAsync(ct).ConfigureAwait(false);
            return new EdgeContext(host, configPath, overrides);
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _host.StopAsync().ConfigureAwait(false);
        _host.Dispose();
    }
}
