using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Models;

/// <summary>
/// Serves a classification head trained on frozen frame-model embeddings (manifest kind "embedding-classifier"):
/// the second of two chained sessions, after <see cref="FrameEmbedder"/>. Owns its session.
/// </summary>
public sealed class EmbeddingClassifier : IDisposable
{
    public const string Kind = "embedding-classifier";

    /// <summary><see cref="ModelManifest.Features"/> of a head over crops' embeddings (the default).</summary>
    public const string CropFeatures = "crop-embedding";

    /// <summary><see cref="ModelManifest.Features"/> of a head over the frame's grid pooled under each box.</summary>
    public const string GridFeatures = "grid-region";

    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();

    private EmbeddingClassifier(ModelSession model, ModelManifest manifest)
    {
        _model = model;
        Manifest = manifest;
    }

    public ModelManifest Manifest { get; }

    public IReadOnlyList<string> Labels => Manifest.Labels;

    /// <summary>Whether the head reads the frame's grid pooled under each box rather than each crop's embedding.</summary>
    public bool ReadsGrid => Manifest.Features == GridFeatures;

    /// <summary>
    /// Opens the head and checks that it reads what the frame model gives: embeddings of its size, or, for a head over
    /// grid regions, its grid's channels.
    /// </summary>
    public static EmbeddingClassifier Open(string modelPath, int embeddingSize, GridDescription? grid, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"classification head not found: {modelPath}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        if (manifest.Kind != Kind || manifest.Labels.Length < 2)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath} is a '{manifest.Kind}' model, not a classification head over embeddings");
        }
        if (manifest.Features is { } features && features != CropFeatures && features != GridFeatures)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: features '{features}' is not one of {CropFeatures}, {GridFeatures}");
        }
        if (manifest.Features == GridFeatures)
        {
            if (grid is null)
            {
                throw new ModelException(ModelError.Invalid, $"{modelPath} reads the frame model's grid under each box, but the frame model gives no grid");
            }
            if (manifest.FeatureSize != grid.Channels)
            {
                throw new ModelException(ModelError.Invalid,
                    $"{modelPath} reads {manifest.FeatureSize}-d grid regions but the frame model's grid has {grid.Channels} channels");
            }
        }
        else if (manifest.FeatureSize != embeddingSize)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads {manifest.FeatureSize}-d features but the frame model gives {embeddingSize}-d embeddings");
        }
        return new EmbeddingClassifier(ModelSession.Open(modelPath, options, logger), manifest);
    }

    /// <summary>Class probabilities, one row of <see cref="Labels"/>.Count per embedding.</summary>
    public float[] Classify(ReadOnlySpan<float> embeddings, int count)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(embeddings[..(count * Manifest.FeatureSize!.Value)].ToArray(), [count, Manifest.FeatureSize.Value]);
        using var outputs = _model.Session.Run(_runOptions, [Manifest.InputName], [input], [Manifest.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _model.Dispose();
    }
}
