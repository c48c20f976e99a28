using System.Text.Json;
using System.Text.Json.Serialization;

namespace Edge.Models;

/// <summary>
/// The contract between a model and the code that feeds it, stored as JSON beside each .onnx file (same name,
/// .json extension). Written by model preparation and by Training; read by Models, which checks it against the
/// model's real inputs and outputs before serving.
/// </summary>
public sealed record ModelManifest
{
    public const string FrameEmbeddingKind = "frame-embedding";
    public const string ActivityKind = "sequence-activity";
    public const string AnomalyKind = "sequence-anomaly";
    public const string GridAnomalyKind = "grid-anomaly";

    /// <summary>Short name, e.g. "resnet18-frame".</summary>
    public required string Name { get; init; }

    /// <summary>What the model does: "frame-embedding", later "classifier", "sequence".</summary>
    public required string Kind { get; init; }

    public required string InputName { get; init; }

    public required int InputWidth { get; init; }

    public required int InputHeight { get; init; }

    /// <summary>"NHWC" or "NCHW".</summary>
    public required string InputLayout { get; init; }

    /// <summary>"BGR" or "RGB": the order of the channels the caller passes in.</summary>
    public required string ChannelOrder { get; init; }

    /// <summary>"uint8" or "float32".</summary>
    public required string InputElementType { get; init; }

    /// <summary>
    /// "in-graph" when the model casts and normalises itself (the caller passes raw pixels); "caller" when the caller
    /// applies <see cref="Scale"/>, <see cref="Mean"/> and <see cref="Std"/> first: x' = (x * scale - mean) / std.
    /// </summary>
    public string Normalization { get; init; } = "in-graph";

    public float Scale { get; init; } = 1f;

    public float[] Mean { get; init; } = [0f, 0f, 0f];

    public float[] Std { get; init; } = [1f, 1f, 1f];

    public required string[] OutputNames { get; init; }

    /// <summary>Length of the embedding the first output gives per frame.</summary>
    public int EmbeddingSize { get; init; }

    /// <summary>Class names for classifier outputs, in output order.</summary>
    public string[] Labels { get; init; } = [];

    /// <summary>Sequence models: frames per window the model reads (activity) or window plus the frame it predicts (anomaly).</summary>
    public int? WindowLength { get; init; }

    /// <summary>Sequence models: frames between the starts of consecutive windows when the model runs.</summary>
    public int? WindowStride { get; init; }

    /// <summary>Sequence models: the length of each frame's feature vector; must equal the frame model's embedding size.</summary>
    public int? FeatureSize { get; init; }

    /// <summary>
    /// Classification heads: what each input row is — <c>crop-embedding</c> (the frame model's embedding of the object's
    /// crop; also when absent) or <c>grid-region</c> (the frame's grid pooled under the object's box,
    /// <see cref="RegionPooling"/>: no second CNN pass).
    /// </summary>
    public string? Features { get; init; }

    /// <summary>
    /// Per-track activity models (<see cref="Features"/> <c>track-steps</c>): the time between two steps of the material
    /// the model learned, in milliseconds (100 for 10 fps scenes). Serving keeps a track's observations about that far
    /// apart and scales each step by the time it spans, so a 30 fps camera reads like the material.
    /// </summary>
    public double? StepMs { get; init; }

    /// <summary>Anomaly models: how raw scores of normal footage are distributed, for thresholds.</summary>
    public AnomalyCalibration? Anomaly { get; init; }

    /// <summary>
    /// Frame models: the spatial feature map the model outputs beside the embedding, if any (absent in manifests
    /// written before grids existed; such models serve embeddings only). Grid anomaly models: the grid they read,
    /// which must equal the frame model's.
    /// </summary>
    public GridDescription? Grid { get; init; }

    /// <summary>Grid anomaly models: what the scoring graph computes and how it was learned.</summary>
    public GridAnomalyDescription? GridAnomaly { get; init; }

    /// <summary>Where the weights came from.</summary>
    public string? Source { get; init; }

    private static readonly JsonSerializerOptions s_json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <summary>The manifest path for a model path: same name, .json extension.</summary>
    public static string PathFor(string modelPath) => Path.ChangeExtension(modelPath, ".json");

    public static ModelManifest Load(string manifestPath)
    {
        if (!File.Exists(manifestPath))
        {
            throw new ModelException(ModelError.NotFound, $"model manifest not found: {manifestPath}");
        }
        try
        {
            return JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(manifestPath), s_json)
                ?? throw new JsonException("empty document");
        }
        catch (JsonException ex)
        {
            throw new ModelException(ModelError.Invalid, $"model manifest {manifestPath} is not valid: {ex.Message}", ex);
        }
    }

    /// <summary>Writes the manifest through a temporary file so a reader never sees half of it.</summary>
    public void Save(string manifestPath)
    {
        var temp = manifestPath + ".tmp";
        try
        {
            File.WriteAllText(temp, JsonSerializer.Serialize(this, s_json));
            File.Move(temp, manifestPath, overwrite: true);
        }
        catch
        {
            if (File.Exists(temp))
            {
                File.Delete(temp);
            }
            throw;
        }
    }

    public string ToJson() => JsonSerializer.Serialize(this, s_json);
}

/// <summary>
/// Score calibration measured on held-out normal windows: Threshold is the raw score that
/// <see cref="ThresholdPercentile"/> % of normal windows stay below; <see cref="Relative"/> puts a raw score on the
/// scale the pipeline reports (0 = typical normal, 1 = the threshold).
/// </summary>
public sealed record AnomalyCalibration(double Mean, double Std, double Threshold, double ThresholdPercentile, int Windows)
{
    /// <summary>A raw score on the calibrated scale: 0 at the mean of normal windows, 1 at the threshold.</summary>
    public double Relative(double raw) => Threshold > Mean ? (raw - Mean) / (Threshold - Mean) : raw - Mean;
}

/// <summary>
/// A spatial feature map: output <paramref name="OutputName"/> is [N, Height, Width, Channels] (each cell's channels
/// contiguous); cell (r, c) covers input pixels [c·InputWidth/Width, (c+1)·InputWidth/Width) × [r·InputHeight/Height, …).
/// </summary>
/// <param name="Layer">Which backbone layer it is, for people ("layer3").</param>
public sealed record GridDescription(string OutputName, int Channels, int Height, int Width, string? Layer = null)
{
    /// <summary>Floats per frame: Height · Width · Channels.</summary>
    public int Size => Height * Width * Channels;
}

/// <summary>
/// How a grid anomaly model scores (see Models/GridAnomaly): the terms its score sums, the projection and memory sizes,
/// so that a reader of the manifest knows what the model looks at.
/// </summary>
/// <param name="Terms">The terms the score sums: frame, patch, still, motion.</param>
/// <param name="ProjectedChannels">Channels each cell keeps after the whitened projection.</param>
/// <param name="PatchMemory">Normal cell features in the patch memory (greedy k-centre coreset).</param>
/// <param name="FrameMemory">Normal frame embeddings in the frame memory.</param>
/// <param name="TopK">The patch term is the mean of the TopK largest cell distances.</param>
/// <param name="FramesLearned">Normal frames the model was learned from.</param>
public sealed record GridAnomalyDescription(string[] Terms, int ProjectedChannels, int PatchMemory, int FrameMemory, int TopK, long FramesLearned)
{
    /// <summary>Output name of the cell score map [N, Height, Width] (the frame score is the first output).</summary>
    public string MapOutputName { get; init; } = "cells";

    /// <summary>
    /// Median time between the frames it learned from, ms: a gap of 1 on the graph's "gaps" input. Null when unknown
    /// (footage recorded without timestamps); then every window is read as consecutive frames.
    /// </summary>
    public double? FrameIntervalMs { get; init; }

    /// <summary>
    /// The working width the cells' optical flow was measured at when the model reads it (each frame's features then
    /// end with it, <see cref="GridAnomaly.FlowFeatures"/>); null for a model without the pace term.
    /// </summary>
    public int? FlowWidth { get; init; }
}
