using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Serves the default anomaly model (<see cref="GridAnomalyGraph"/>): windows of consecutive frames' features (two,
/// or three for a model with the repeat term; each embedding followed by grid, and by the cells' flow for a model with
/// the pace term) in; the raw score of each window's newer frame (put on the calibrated scale with the
/// manifest's <see cref="ModelManifest.Anomaly"/>) and its cell map out. Owns its session. ONNX Runtime sessions may be
/// run from several threads; the shared, batching front does so from one.
/// </summary>
public sealed class GridAnomalyModel : IWindowModel, IDisposable
{
    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _outputs;
    private readonly string? _gapsInput;

    private GridAnomalyModel(ModelSession model, ModelManifest manifest)
    {
        _model = model;
        Manifest = manifest;
        // Models learned before the gaps input have one input and read every window as consecutive frames.
        _gapsInput = model.Session.InputMetadata.ContainsKey(GridAnomalyGraph.GapsName) ? GridAnomalyGraph.GapsName : null;
        FrameIntervalMs = _gapsInput is null ? null : manifest.GridAnomaly?.FrameIntervalMs;
        Grid = manifest.Grid!;
        FeatureSize = manifest.FeatureSize!.Value;
        ReadsFlow = manifest.GridAnomaly?.FlowWidth is not null;
        InputFrames = FramesOf(manifest);
        _outputs = [manifest.OutputNames[0], manifest.OutputNames[1]];
    }

    public ModelManifest Manifest { get; }

    public GridDescription Grid { get; }

    public GridDescription? CellGrid => Grid;

    public bool IsAnomaly => true;

    public bool ReadsGrid => true;

    public bool ReadsFlow { get; }

    public int InputFrames { get; }

    /// <summary>Frames a window of the model holds: its manifest's window length and the frame before it (2 or 3).</summary>
    private static int FramesOf(ModelManifest manifest) => (manifest.WindowLength ?? 1) + 1;

    public int FeatureSize { get; }

    public double? FrameIntervalMs { get; }

    /// <summary>
    /// Opens a grid anomaly model and checks it against its manifest and against the frame model it will read from
    /// (<paramref name="embeddingSize"/>, <paramref name="frameGrid"/>): a model learned on another frame model cannot
    /// read these features.
    /// </summary>
    public static GridAnomalyModel Open(string modelPath, int embeddingSize, GridDescription? frameGrid, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"anomaly model not found: {modelPath}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        if (manifest.Kind != ModelManifest.GridAnomalyKind || manifest.Grid is null || manifest.Anomaly is null
            || manifest.OutputNames.Length < 2 || manifest.FeatureSize is null)
        {
            throw new ModelException(ModelError.Invalid, manifest.Kind == ModelManifest.GridAnomalyKind
                ? $"{modelPath}: its manifest lacks what a grid anomaly model needs (grid, featureSize, two outputNames, anomaly calibration): the manifest was edited or does not belong to this model; learn it again"
                : $"{modelPath} is a '{manifest.Kind}' model, not a grid anomaly model (edge learn writes those)");
        }
        var calibration = manifest.Anomaly;
        if (!double.IsFinite(calibration.Mean) || !double.IsFinite(calibration.Threshold) || calibration.Threshold <= calibration.Mean)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: its manifest's calibration cannot put a score on the served scale (threshold {calibration.Threshold} must be above the normal mean {calibration.Mean}): learn the model again");
        }
        if (manifest.GridAnomaly?.FrameIntervalMs is <= 0 or double.NaN)
        {
            throw new ModelException(ModelError.Invalid, $"{modelPath}: its manifest's frame interval ({manifest.GridAnomaly.FrameIntervalMs} ms) must be above 0: learn the model again");
        }
        if (manifest.WindowStride is not (null or 1))
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: windowStride is {manifest.WindowStride} in its manifest; a grid anomaly model scores every frame (1): the manifest was edited; learn the model again");
        }
        if (frameGrid is null)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
        }
        var grid = manifest.Grid;
        if (manifest.GridAnomaly?.FlowWidth is { } flowWidth && flowWidth != FlowFeatures.WorkingWidth)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads optical flow measured {flowWidth} pixels wide, but this Edge measures it {FlowFeatures.WorkingWidth} wide: learn the model again");
        }
        var flowSize = manifest.GridAnomaly?.FlowWidth is null ? 0 : FlowFeatures.Size(grid);
        if (grid.Height == frameGrid.Height && grid.Width == frameGrid.Width && grid.Channels == frameGrid.Channels
            && manifest.EmbeddingSize == embeddingSize && manifest.FeatureSize != embeddingSize + grid.Size + flowSize)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: its manifest's featureSize {manifest.FeatureSize} is not the {embeddingSize}-d embedding, the {grid.Size}-value grid and {flowSize} values of flow ({embeddingSize + grid.Size + flowSize}) it describes: the manifest was edited or does not belong to this model; learn it again");
        }
        if (grid.Height != frameGrid.Height || grid.Width != frameGrid.Width || grid.Channels != frameGrid.Channels
            || manifest.EmbeddingSize != embeddingSize)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads {manifest.EmbeddingSize}-d embeddings and {grid.Height}×{grid.Width}×{grid.Channels} grids{(flowSize > 0 ? $" with {flowSize} values of flow" : "")} ({manifest.FeatureSize} values a frame), but the frame model gives {embeddingSize}-d embeddings and {frameGrid.Height}×{frameGrid.Width}×{frameGrid.Channels} grids");
        }
        var model = ModelSession.Open(modelPath, options, logger);
        var input = model.Session.InputMetadata.GetValueOrDefault(manifest.InputName);
        if (input is null || input.Dimensions.Length != 3 || input.Dimensions[1] != FramesOf(manifest)
            || input.Dimensions[2] != manifest.FeatureSize || manifest.OutputNames.Any(o => !model.Session.OutputMetadata.ContainsKey(o)))
        {
            model.Dispose();
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: input '{manifest.InputName}' is [{string.Join(',', input?.Dimensions ?? [])}], the manifest needs [-1,{FramesOf(manifest)},{manifest.FeatureSize}] and outputs {string.Join(", ", manifest.OutputNames)}");
        }
        return new GridAnomalyModel(model, manifest);
    }

    /// <summary>
    /// Runs <paramref name="count"/> windows packed as [count, InputFrames, FeatureSize]; <paramref name="gaps"/> [count]
    /// are the learned frame intervals between each window's two newest frames (null = consecutive frames).
    /// </summary>
    public WindowScores Run(float[] windows, int count, float[]? gaps = null)
    {
        if (gaps is not null && gaps.Length != count)
        {
            throw new ArgumentException($"{gaps.Length} gaps for {count} windows", nameof(gaps));
        }
        using var input = OrtValue.CreateTensorValueFromMemory(windows, [count, InputFrames, FeatureSize]);
        using var gapValues = _gapsInput is null ? null : OrtValue.CreateTensorValueFromMemory(gaps ?? Enumerable.Repeat(1f, count).ToArray(), [count]);
        using var outputs = gapValues is null
            ? _model.Session.Run(_runOptions, [Manifest.InputName], [input], _outputs)
            : _model.Session.Run(_runOptions, [Manifest.InputName, _gapsInput!], [input, gapValues], _outputs);
        return new WindowScores(outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    public ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Run(windows, count).Scores);
    }

    public ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, CancellationToken ct) =>
        RunWithCellsAsync(windows, count, null, ct);

    public ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, float[]? gaps, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Run(windows, count, gaps));
    }

    public void Dispose()
    {
        _runOptions.Dispose();
        _model.Dispose();
    }
}
