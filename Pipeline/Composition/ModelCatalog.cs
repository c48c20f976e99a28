using Edge.Models;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Composition;

/// <summary>The options that say which models a stream uses and how they run.</summary>
public sealed record ModelSettings(ModelOptions Models, AnalysisOptions Analysis, ObjectOptions Objects);

/// <summary>
/// The models streams run on, and the one rule for loading them: a configured model that is missing is an error when
/// its section says Required, otherwise that stage is off and says so once. One catalog serves one stream
/// (<see cref="Open"/>: the frame model called directly) or many (<see cref="OpenShared"/>: the frame model and each
/// sequence model shared by every stream and batched across them). Owns the frame model and the sequence models; an
/// object head is opened per stream and owned by its stream.
/// </summary>
public sealed class ModelCatalog : IAsyncDisposable, IDisposable
{
    private readonly ModelSettings _settings;
    private readonly ILoggerFactory _logs;
    private readonly ILogger _logger;
    private readonly SharedEmbedder? _shared;
    private readonly double _batchWindowMs;
    private readonly int _maxWindows;
    private readonly Dictionary<string, IWindowModel?> _sequenceModels = new(StringComparer.Ordinal);
    private readonly List<(IWindowModel Model, long RetiredAt)> _retired = [];

    private ModelCatalog(ModelSettings settings, FrameEmbedder frameModel, string frameModelPath, SharedEmbedder? shared,
        double batchWindowMs, int maxWindows, ILoggerFactory logs)
    {
        _settings = settings;
        _logs = logs;
        _logger = logs.CreateLogger("Edge.Models");
        FrameModel = frameModel;
        FrameModelPath = frameModelPath;
        _shared = shared;
        _batchWindowMs = batchWindowMs;
        _maxWindows = maxWindows;
    }

    public ModelSettings Settings => _settings;

    /// <summary>The frame model itself (for measurements that call it directly).</summary>
    public FrameEmbedder FrameModel { get; }

    public string FrameModelPath { get; }

    /// <summary>What the streams' CNN stages call: the frame model, or its batching front when shared.</summary>
    public IFrameEmbedder Embedder => _shared is null ? FrameModel : _shared;

    /// <summary>The batching front of a shared catalog (calls and frames for metrics); null for one stream.</summary>
    public SharedEmbedder? Shared => _shared;

    /// <summary>A catalog for one stream: the frame model takes batches of up to <paramref name="maxBatch"/> frames.</summary>
    public static ModelCatalog Open(ModelSettings settings, int maxBatch, ILoggerFactory logs)
    {
        var path = settings.Models.Resolve(settings.Models.FrameModel);
        var frameModel = FrameEmbedder.Open(path, settings.Models, maxBatch, logs.CreateLogger("Edge.Models"));
        return new ModelCatalog(settings, frameModel, path, null, 0, 1, logs);
    }

    /// <summary>
    /// A catalog for many streams: one frame model batched across them (up to <paramref name="maxBatch"/> frames a call,
    /// waiting at most <paramref name="batchWindowMs"/> for other streams), and one session per sequence model.
    /// </summary>
    /// <param name="onCall">Called after each frame-model call with its duration (ms) and frame count, for metrics.</param>
    public static ModelCatalog OpenShared(ModelSettings settings, int maxBatch, double batchWindowMs, ILoggerFactory logs,
        Action<double, int>? onCall = null)
    {
        var path = settings.Models.Resolve(settings.Models.FrameModel);
        var frameModel = FrameEmbedder.Open(path, settings.Models, maxBatch, logs.CreateLogger("Edge.Models"));
        return new ModelCatalog(settings, frameModel, path, new SharedEmbedder(frameModel, batchWindowMs, onCall), batchWindowMs, maxBatch, logs);
    }

    /// <summary>
    /// The sequence model configured for <paramref name="role"/> ("anomaly" or "activity"), opened on first use and
    /// shared by every stream that asks for the same file; null when none is configured, or when it is missing and
    /// Analysis:Required is off (said once).
    /// </summary>
    public IWindowModel? SequenceModel(string configured, string role)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return null;
        }
        lock (_sequenceModels)
        {
            var key = role + ":" + configured;
            if (!_sequenceModels.TryGetValue(key, out var model))
            {
                var opened = OpenSequenceModel(configured, role);
                model = opened is null ? null : _shared is null ? opened : new SharedSequenceModel(opened, _maxWindows, _batchWindowMs);
                _sequenceModels[key] = model;
            }
            return model;
        }
    }

    /// <summary>
    /// Opens <paramref name="configured"/> again (its file changed) and puts it in place of the one open for
    /// <paramref name="role"/>, so that every later <see cref="SequenceModel"/> returns it; the caller hands it to the
    /// running streams. The model it replaces is retired (<see cref="DisposeRetiredAsync"/>). Throws
    /// <see cref="ModelException"/> when the file is missing or not a usable model: then nothing changes.
    /// </summary>
    public IWindowModel Reload(string configured, string role)
    {
        var path = _settings.Models.Resolve(configured);
        if (!File.Exists(path))
        {
            throw new ModelException(ModelError.NotFound, $"{role} model not found: {path}");
        }
        var opened = OpenSequenceModel(configured, role)!;
        var model = _shared is null ? opened : new SharedSequenceModel(opened, _maxWindows, _batchWindowMs);
        lock (_sequenceModels)
        {
            var key = role + ":" + configured;
            if (_sequenceModels.TryGetValue(key, out var previous) && previous is not null)
            {
                _retired.Add((previous, System.Diagnostics.Stopwatch.GetTimestamp()));
            }
            _sequenceModels[key] = model;
        }
        return model;
    }

    /// <summary>Takes a model the streams no longer use (a learned model replaced by a newer one) out of the catalog; it is retired.</summary>
    public void Retire(string configured, string role)
    {
        lock (_sequenceModels)
        {
            if (_sequenceModels.Remove(role + ":" + configured, out var model) && model is not null)
            {
                _retired.Add((model, System.Diagnostics.Stopwatch.GetTimestamp()));
            }
        }
    }

    /// <summary>
    /// Disposes the retired models that have been out of the catalog for <paramref name="after"/>: by then every
    /// running stream has put its replacement in (on its next frame) and no call can still be on them.
    /// </summary>
    public async ValueTask DisposeRetiredAsync(TimeSpan after)
    {
        List<IWindowModel> due;
        lock (_sequenceModels)
        {
            due = [.. _retired.Where(r => System.Diagnostics.Stopwatch.GetElapsedTime(r.RetiredAt) >= after).Select(r => r.Model)];
            _retired.RemoveAll(r => due.Contains(r.Model));
        }
        foreach (var model in due)
        {
            await DisposeModelAsync(model).ConfigureAwait(false);
        }
    }

    private static async ValueTask DisposeModelAsync(IWindowModel model)
    {
        switch (model)
        {
            case SharedSequenceModel shared:
                await shared.DisposeAsync().ConfigureAwait(false);
                break;
            case IDisposable disposable:
                disposable.Dispose();
                break;
        }
    }

    /// <summary>The role of the per-track activity model (<c>Tracking:ActivityModel</c>) in <see cref="SequenceModel"/>.</summary>
    public const string TrackActivityRole = "track activity";

    private IWindowModel? OpenSequenceModel(string configured, string role)
    {
        var path = _settings.Models.Resolve(configured);
        if (!File.Exists(path) && !_settings.Analysis.Required)
        {
            _logger.LogWarning(role == TrackActivityRole
                ? "The {Role} model {Path} was not found: tracks are not labelled"
                : "The {Role} model {Path} was not found: the temporal stage runs without it", role, path);
            return null;
        }
        if (!File.Exists(path))
        {
            throw new ModelException(ModelError.NotFound, $"{role} model not found: {path}");
        }
        var model = OpenWindowModel(path, FrameModel, _settings.Models, _logger);
        if (model.IsAnomaly != (role == "anomaly"))
        {
            (model as IDisposable)?.Dispose();
            throw new ModelException(ModelError.Invalid, $"{path} is a '{model.Manifest.Kind}' model, configured as the {role} model");
        }
        var readsTracks = model.Manifest.Features == TrackFeatures.Name;
        if (readsTracks != (role == TrackActivityRole))
        {
            (model as IDisposable)?.Dispose();
            throw new ModelException(ModelError.Invalid, readsTracks
                ? $"{path} recognises the activity of each track: configure it as Tracking:ActivityModel, not as the {role} model"
                : $"{path} reads frame embeddings, not track steps: it cannot be Tracking:ActivityModel (train one with `edge train sequence --input track`)");
        }
        // The frames it reads each time (a grid anomaly model's window counts frame pairs: three frames for window 2).
        _logger.LogInformation("Temporal stage: {Role} model {Name} ({Kind}: {Source}; reads {Frames} frames, every {Stride} frame(s))",
            role, model.Manifest.Name, model.Manifest.Kind, model.Manifest.Source, model.InputFrames, model.Manifest.WindowStride ?? 1);
        return model;
    }

    /// <summary>
    /// Opens a window model by its manifest's kind: the default anomaly model (embeddings and grids) or a GRU/LSTM
    /// sequence model (embeddings), checked against the frame model whose features it will read.
    /// </summary>
    public static IWindowModel OpenWindowModel(string path, FrameEmbedder frameModel, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(path))
        {
            throw new ModelException(ModelError.NotFound, $"model not found: {path}");
        }
        var kind = ModelManifest.Load(ModelManifest.PathFor(path)).Kind;
        options = options.ForTemporalModel();
        return kind == ModelManifest.GridAnomalyKind
            ? Models.GridAnomaly.GridAnomalyModel.Open(path, frameModel.EmbeddingSize, frameModel.Grid, options, logger)
            : Models.SequenceModel.Open(path, frameModel.EmbeddingSize, options, logger, frameModel.Grid);
    }

    /// <summary>
    /// Opens the object stage's head for one stream (the caller owns it); null when the object stage is off, or when
    /// the head is missing and Objects:Required is off (then the stage is off and says so).
    /// </summary>
    public EmbeddingClassifier? OpenObjectHead()
    {
        var objects = _settings.Objects;
        if (!objects.Enabled)
        {
            return null;
        }
        var path = _settings.Models.Resolve(objects.HeadModel);
        if (!File.Exists(path) && !objects.Required)
        {
            _logger.LogWarning("The object head {Path} was not found: the object stage is off (`edge models prepare` builds the default one)", path);
            return null;
        }
        var head = EmbeddingClassifier.Open(path, FrameModel.EmbeddingSize, FrameModel.Grid, _settings.Models, _logs.CreateLogger("Edge.Models"));
        _logger.LogInformation("Object stage: head {Name} ({Labels}), gating {Gating}{Nth}, at most {Max} crops a frame",
            head.Manifest.Name, string.Join(", ", head.Labels), objects.Gating,
            objects.Gating == ObjectGating.EveryNth ? $" (every {objects.EveryNthFrame} frames)" : "", objects.MaxObjects);
        return head;
    }

    /// <summary>
    /// Opens the object stage's box detector for one stream (the caller owns it); null when the object stage is off or
    /// no detector is configured (motion regions and the head then find objects). A configured detector that is
    /// missing or not a detector is a <see cref="ModelException"/>.
    /// </summary>
    public BoxDetector? OpenBoxDetector()
    {
        var objects = _settings.Objects;
        if (!objects.Enabled || string.IsNullOrWhiteSpace(objects.DetectorModel))
        {
            return null;
        }
        var path = _settings.Models.Resolve(objects.DetectorModel);
        if (!File.Exists(path))
        {
            throw new ModelException(ModelError.NotFound, $"the object detector {path} (Objects:DetectorModel) was not found");
        }
        var detector = BoxDetector.Open(path, _settings.Models, _logs.CreateLogger("Edge.Models"));
        _logger.LogInformation("Object stage: detector {Name} ({Layout} layout, {Width}x{Height} input, {Classes} classes: {Labels}), scores from {MinScore}, gating {Gating}",
            Path.GetFileName(path), detector.Layout, detector.InputWidth, detector.InputHeight, detector.Labels.Count,
            string.Join(", ", detector.Labels.Take(8)) + (detector.Labels.Count > 8 ? ", ..." : ""), objects.DetectorMinScore, objects.Gating);
        return detector;
    }

    /// <summary>For callers that run synchronously; a shared catalog's batchers stop as in <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    public async ValueTask DisposeAsync()
    {
        foreach (var model in _sequenceModels.Values.Concat(_retired.Select(r => r.Model)))
        {
            if (model is not null)
            {
                await DisposeModelAsync(model).ConfigureAwait(false);
            }
        }
        _sequenceModels.Clear();
        _retired.Clear();
        if (_shared is not null)
        {
            await _shared.DisposeAsync().ConfigureAwait(false);
        }
        else
        {
            FrameModel.Dispose();
        }
    }
}
