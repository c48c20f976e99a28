using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Models;

/// <summary>
/// Serves a GRU/LSTM sequence model over windows of per-frame embeddings: activity models give class probabilities
/// per window, anomaly models a raw score per window (of the frame after the window), to be
/// normalised with the manifest's calibration. Owns its session.
/// </summary>
public sealed class SequenceModel : IWindowModel, IDisposable
{
    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();

    private SequenceModel(ModelSession model, ModelManifest manifest, int inputFrames)
    {
        _model = model;
        Manifest = manifest;
        InputFrames = inputFrames;
    }

    public ModelManifest Manifest { get; }

    public bool IsAnomaly => Manifest.Kind == ModelManifest.AnomalyKind;

    /// <summary>Frames per input window: the window for activity, the window plus the predicted frame for anomaly.</summary>
    public int InputFrames { get; }

    public int FeatureSize => Manifest.FeatureSize ?? 0;

    /// <summary>A per-track activity model: it reads <see cref="TrackFeatures"/> steps of one track, not frame embeddings.</summary>
    public bool ReadsTracks => Manifest.Features == TrackFeatures.Name;

    /// <summary>
    /// Opens a sequence model and checks its manifest: the kind, a window length, and a feature size equal to
    /// <paramref name="embeddingSize"/>, the frame model's (or, for a per-track model, the track step of the frame
    /// model's <paramref name="grid"/>).
    /// </summary>
    public static SequenceModel Open(string modelPath, int embeddingSize, ModelOptions options, ILogger logger, GridDescription? grid = null)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"sequence model not found: {modelPath}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        if (manifest.Kind is not (ModelManifest.ActivityKind or ModelManifest.AnomalyKind) || manifest.WindowLength is not > 0)
        {
            throw new ModelException(ModelError.Invalid, manifest.Kind is ModelManifest.ActivityKind or ModelManifest.AnomalyKind
                ? $"{modelPath}: its manifest gives no window length (windowLength above 0): the manifest does not belong to this model, or was edited"
                : $"{modelPath} is a '{manifest.Kind}' model, not an anomaly or activity model (kind {ModelManifest.GridAnomalyKind}, {ModelManifest.AnomalyKind} or {ModelManifest.ActivityKind}: edge learn or edge train sequence writes those)");
        }
        if (manifest.WindowStride is <= 0)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: windowStride is {manifest.WindowStride} in its manifest; it must be at least 1 (frames between windows)");
        }
        if (manifest.Features == TrackFeatures.Name)
        {
            if (grid is null)
            {
                throw new ModelException(ModelError.Invalid, $"{modelPath} reads track steps of the frame model's grid, but the frame model gives no grid (prepare it again: `edge models prepare --force`)");
            }
            embeddingSize = TrackFeatures.Size(grid);
            if (manifest.Kind != ModelManifest.ActivityKind)
            {
                throw new ModelException(ModelError.Invalid, $"{modelPath}: only activity models read track steps");
            }
        }
        if (manifest.FeatureSize != embeddingSize)
        {
            throw new ModelException(ModelError.Invalid,
                manifest.Features == TrackFeatures.Name
                    ? $"{modelPath} reads {manifest.FeatureSize}-value track steps but the frame model's grid makes {embeddingSize}-value steps"
                    : $"{modelPath} reads {manifest.FeatureSize}-d features but the frame model gives {embeddingSize}-d embeddings");
        }
        if (manifest.Kind == ModelManifest.AnomalyKind && manifest.Anomaly is null)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: an anomaly model needs its score calibration in the manifest");
        }
        var frames = manifest.WindowLength.Value + (manifest.Kind == ModelManifest.AnomalyKind ? 1 : 0);
        var model = ModelSession.Open(modelPath, options, logger);
        var input = model.Session.InputMetadata.GetValueOrDefault(manifest.InputName);
        if (input is null || input.Dimensions.Length != 3 || input.Dimensions[1] != frames || input.Dimensions[2] != embeddingSize)
        {
            model.Dispose();
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: input '{manifest.InputName}' is [{string.Join(',', input?.Dimensions ?? [])}], the manifest needs [-1,{frames},{embeddingSize}]");
        }
        return new SequenceModel(model, manifest, frames);
    }

    /// <summary>Runs <paramref name="count"/> windows packed as [count, InputFrames, FeatureSize].</summary>
    public float[] Run(float[] windows, int count)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(windows, [count, InputFrames, FeatureSize]);
        using var outputs = _model.Session.Run(_runOptions, [Manifest.InputName], [input], [Manifest.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Run(windows, count));
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _model.Dispose();
    }
}
