using System.ComponentModel.DataAnnotations;
using Edge.Capture;
using Edge.Pipeline.Delivery;
using Edge.Host.Service;
using Edge.Host.Web;
using Edge.Models;
using Edge.Pipeline;
using Edge.Pipeline.Events;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Edge.Host;

/// <summary>
/// Every configuration section Edge reads, declared once: its name, its options type and its cross-field rules. The
/// table drives binding (unknown keys are errors), the key check of the whole configuration, validation at start and
/// on reload, and what a verb receives (<see cref="EdgeContext.Get{T}"/>).
/// </summary>
public static class OptionsTable
{
    public static readonly IReadOnlyList<OptionsSection> Sections =
    [
        OptionsSection.For<CaptureOptions>(CaptureOptions.Section, o =>
            (o.ResizeWidth == 0) != (o.ResizeHeight == 0) ? ["Capture:ResizeWidth and Capture:ResizeHeight must be set together (or both 0)"] : []),
        OptionsSection.For<SourcesOptions>(SourcesOptions.Section, new SourcesOptionsValidator()),
        OptionsSection.For<ReconnectOptions>(ReconnectOptions.Section, o => o.CrossFieldError() is { } error ? [error] : []),
        OptionsSection.For<PipelineOptions>(PipelineOptions.Section, o =>
            o.CaptureQueue < o.BatchSize ? [$"Pipeline:CaptureQueue ({o.CaptureQueue}) must hold at least one batch (Pipeline:BatchSize {o.BatchSize})"] : []),
        OptionsSection.For<ModelOptions>(ModelOptions.Section),
        OptionsSection.For<AnalysisOptions>(AnalysisOptions.Section),
        OptionsSection.For<ObjectOptions>(ObjectOptions.Section, o =>
            o.Enabled && string.IsNullOrWhiteSpace(o.HeadModel) && string.IsNullOrWhiteSpace(o.DetectorModel)
                ? ["Objects:HeadModel must name a classification head (or Objects:DetectorModel a detector) while Objects:Enabled is true"] : []),
        OptionsSection.For<Edge.Pipeline.Tracking.TrackingOptions>(Edge.Pipeline.Tracking.TrackingOptions.Section, o => o.Errors()),
        OptionsSection.For<Edge.Pipeline.Zones.ZoneLayoutOptions>(Edge.Pipeline.Zones.ZoneLayoutOptions.Section, o => Edge.Pipeline.Zones.ZoneLayout.Check(o)),
        OptionsSection.For<EventRules>(EventRules.Section, o =>
            (o.AnomalyExit > o.AnomalyEnter || o.ActivityExit > o.ActivityEnter
                ? ["Events: an exit threshold must not be above its enter threshold (AnomalyExit <= AnomalyEnter, ActivityExit <= ActivityEnter)"] : (string[])[])
            .Concat(o.MinDurationMs > o.MaxDurationMs ? [$"Events:MinDurationMs ({o.MinDurationMs}) must not be above Events:MaxDurationMs ({o.MaxDurationMs})"] : [])),
        OptionsSection.For<RetentionOptions>(RetentionOptions.Section),
        OptionsSection.For<LoggingOptions>(LoggingOptions.Section),
        OptionsSection.For<DeliveryOptions>(DeliveryOptions.Section, DeliveryOptionsRules.Problems),
        OptionsSection.For<ServiceOptions>(ServiceOptions.Section, new ServiceOptionsValidator()),
        OptionsSection.For<WebOptions>(WebOptions.Section, new WebOptionsValidator()),
    ];

    public static OptionsSection? Find(string name) =>
        Sections.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));
}

/// <summary>One row of <see cref="OptionsTable"/>.</summary>
public sealed class OptionsSection
{
    private OptionsSection(string name, Type type, Action<IServiceCollection, IConfiguration> register,
        Func<IServiceProvider, object> resolve, Func<object, IReadOnlyList<string>> validate)
    {
        Name = name;
        Type = type;
        Register = register;
        Resolve = resolve;
        Validate = validate;
    }

    public string Name { get; }

    public Type Type { get; }

    /// <summary>Binds the section strictly and validates it on start (data annotations, then the section's rules).</summary>
    internal Action<IServiceCollection, IConfiguration> Register { get; }

    /// <summary>The validated options from a started host.</summary>
    internal Func<IServiceProvider, object> Resolve { get; }

    /// <summary>Every failure of the section's data annotations and rules (for a reload, outside the host).</summary>
    internal Func<object, IReadOnlyList<string>> Validate { get; }

    public static OptionsSection For<T>(string name, Func<T, IEnumerable<string>> rules) where T : class =>
        For(name, new RuleValidator<T>(rules));

    public static OptionsSection For<T>(string name, IValidateOptions<T>? validator = null) where T : class => new(
        name,
        typeof(T),
        (services, configuration) =>
        {
            services.AddOptions<T>()
                .Bind(configuration.GetSection(name), o => o.ErrorOnUnknownConfiguration = true)
                .ValidateDataAnnotations()
                .ValidateOnStart();
            if (validator is not null)
            {
                services.AddSingleton(validator);
            }
        },
        services => services.GetRequiredService<IOptions<T>>().Value,
        value =>
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true);
            var failures = results.Select(r => $"{name}: {r.ErrorMessage}").ToList();
            if (validator?.Validate(null, (T)value) is { Failed: true } invalid)
            {
                failures.AddRange(invalid.Failures);
            }
            return failures;
        });

    private sealed class RuleValidator<T>(Func<T, IEnumerable<string>> rules) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            rules(options).ToList() is { Count: > 0 } failures ? ValidateOptionsResult.Fail(failures) : ValidateOptionsResult.Success;
    }
}
