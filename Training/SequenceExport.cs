using Edge.Models;
using Edge.Training.Onnx;

namespace Edge.Training;

/// <summary>Writes a trained sequence model as ONNX with its manifest (window, stride, feature size, calibration).</summary>
public static class SequenceExport
{
    /// <param name="features">What each step is, for models that do not read frame embeddings (<see cref="TrackFeatures.Name"/>); null for frame embeddings.</param>
    /// <param name="stepMs">Per-track models: the time between steps of their material.</param>
    public static ModelManifest Write(SequenceTrainer.Result result, SequenceTrainer.Settings settings, string[] labels, string path, string source,
        string? features = null, double? stepMs = null)
    {
        var anomaly = result.Calibration is not null;
        var builder = TorchOnnxExporter.ExportSequence(result.Network, settings.Window, result.Mean, result.Std,
            Path.GetFileNameWithoutExtension(path), result.Scoring);
        var manifest = new ModelManifest
        {
            Name = Path.GetFileNameWithoutExtension(path),
            Kind = anomaly ? ModelManifest.AnomalyKind : ModelManifest.ActivityKind,
            InputName = "windows",
            InputWidth = result.Network.InputSize,
            InputHeight = settings.Window + (anomaly ? 1 : 0),
            InputLayout = "NTF",
            ChannelOrder = "-",
            InputElementType = "float32",
            Normalization = "in-graph",
            OutputNames = [anomaly ? "score" : "scores"],
            Labels = labels,
            WindowLength = settings.Window,
            WindowStride = settings.Stride,
            FeatureSize = result.Network.InputSize,
            Features = features,
            StepMs = stepMs,
            Anomaly = result.Calibration,
            Source = $"{source}; {settings.Cell} {settings.Layers}x{settings.Hidden}" + (result.Network.MotionScale > 0 ? $", frame changes x{result.Network.MotionScale:0.###}" : ""),
        };
        builder.Save(path);
        manifest.Save(ModelManifest.PathFor(path));
        return manifest;
    }
}
