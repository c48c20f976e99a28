using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Edge.Models;

/// <summary>
/// Serves an exported image classifier (manifest kind "image-classifier"): uint8 NHWC pixels in, class
/// probabilities out. Owns its session.
/// </summary>
public sealed class ImageClassifier : IDisposable
{
    public const string Kind = "image-classifier";

    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();

    private ImageClassifier(ModelSession model, ModelManifest manifest)
    {
        _model = model;
        Manifest = manifest;
        Channels = manifest.ChannelOrder == "GRAY" ? 1 : 3;
    }

    public ModelManifest Manifest { get; }

    public int Channels { get; }

    public static ImageClassifier Open(string modelPath, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"classifier not found: {modelPath}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        if (manifest.Kind != Kind || manifest.Labels.Length == 0)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath} is a '{manifest.Kind}' model with {manifest.Labels.Length} labels, not an image classifier");
        }
        var model = ModelSession.Open(modelPath, options, logger);
        var input = model.Session.InputMetadata.GetValueOrDefault(manifest.InputName);
        var output = model.Session.OutputMetadata.GetValueOrDefault(manifest.OutputNames[0]);
        if (input is null || input.ElementDataType != TensorElementType.UInt8 || output is null || output.Dimensions[^1] != manifest.Labels.Length)
        {
            model.Dispose();
            throw new ModelException(ModelError.Invalid, $"{modelPath} does not match its manifest (uint8 input '{manifest.InputName}', {manifest.Labels.Length} scores)");
        }
        return new ImageClassifier(model, manifest);
    }

    /// <summary>Class probabilities for <paramref name="count"/> images packed as uint8 [count, H, W, C].</summary>
    public float[] Classify(byte[] pixels, int count)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(pixels, [count, Manifest.InputHeight, Manifest.InputWidth, Channels]);
        using var outputs = _model.Session.Run(_runOptions, [Manifest.InputName], [input], [Manifest.OutputNames[0]]);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _model.Dispose();
    }
}
