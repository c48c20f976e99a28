using Edge.Models;
using Edge.Training.Onnx;
using TorchSharp.Modules;

namespace Edge.Training;

/// <summary>Writes a trained image classifier as ONNX with its manifest (the contract Models reads).</summary>
public static class ClassifierExport
{
    public const string Kind = "image-classifier";

    public static ModelManifest Write(Sequential network, ImageClassifierTrainer.Data shape,
        ImageClassifierTrainer.Normalization norm, string[] labels, string path, string source)
    {
        var builder = TorchOnnxExporter.ExportImageNetwork(network,
            new TorchOnnxExporter.ImageInput(shape.Height, shape.Width, shape.Channels, norm.Scale, norm.Mean, norm.Std),
            Path.GetFileNameWithoutExtension(path), softmax: true);
        var manifest = new ModelManifest
        {
            Name = Path.GetFileNameWithoutExtension(path),
            Kind = Kind,
            InputName = "images",
            InputWidth = shape.Width,
            InputHeight = shape.Height,
            InputLayout = "NHWC",
            ChannelOrder = shape.Channels == 1 ? "GRAY" : "BGR",
            InputElementType = "uint8",
            Normalization = "in-graph",
            Scale = norm.Scale,
            Mean = norm.Mean,
            Std = norm.Std,
            OutputNames = ["scores"],
            Labels = labels,
            Source = source,
        };
        // Model first, manifest last: a manifest only ever sits beside a complete model.
        builder.Save(path);
        manifest.Save(ModelManifest.PathFor(path));
        return manifest;
    }
}

/// <summary>Writes a classification head over frame embeddings as ONNX with its manifest.</summary>
public static class HeadExport
{
    /// <param name="kind"><see cref="ModelManifest.Features"/>: what each input row is (crop embeddings when null).</param>
    public static ModelManifest Write(Sequential head, int features, string[] labels, string path, string source, string? kind = null)
    {
        var builder = TorchOnnxExporter.ExportVectorNetwork(head, features, Path.GetFileNameWithoutExtension(path), softmax: true);
        var manifest = new ModelManifest
        {
            Name = Path.GetFileNameWithoutExtension(path),
            Kind = EmbeddingClassifier.Kind,
            InputName = "features",
            InputWidth = features,
            InputHeight = 1,
            InputLayout = "NF",
            ChannelOrder = "-",
            InputElementType = "float32",
            Normalization = "none",
            OutputNames = ["scores"],
            Labels = labels,
            FeatureSize = features,
            Features = kind,
            Source = source,
        };
        builder.Save(path);
        manifest.Save(ModelManifest.PathFor(path));
        return manifest;
    }
}
