using Microsoft.Extensions.Logging;
using Microsoft.ML.OnnxRuntime;

namespace Edge.Models.GridAnomaly;

/// <summary>
/// Serves the default anomaly model (<see cref="GridAnomalyGraph"/>): windows of Steps + 1 consecutive grids in, the
/// raw frame score of each window's newest frame (to be put on the calibrated scale with the manifest's
/// <see cref="ModelManifest.Anomaly"/>) and its cell map out. Owns its session. Not thread-safe.
/// </summary>
public sealed class GridAnomalyModel : ICellMapModel, IDisposable
{
    private readonly ModelSession _model;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _outputs;

    private GridAnomalyModel(ModelSession model, ModelManifest manifest)
    {
        _model = model;
        Manifest = manifest;
        Grid = manifest.Grid!;
        InputFrames = manifest.WindowLength!.Value + 1;
        _outputs = [manifest.OutputNames[0], manifest.OutputNames[1]];
    }

    public ModelManifest Manifest { get; }

    public GridDescription Grid { get; }

    public bool IsAnomaly => true;

    public bool ReadsGrid => true;

    public int InputFrames { get; }

    public int FeatureSize => Grid.Size;

    /// <summary>
    /// Opens a grid anomaly model and checks it against its manifest and against the frame model's grid
    /// (<paramref name="frameGrid"/>): a model learned on another layer or grid size cannot read these features.
    /// </summary>
    public static GridAnomalyModel Open(string modelPath, GridDescription? frameGrid, ModelOptions options, ILogger logger)
    {
        if (!File.Exists(modelPath))
        {
            throw new ModelException(ModelError.NotFound, $"anomaly model not found: {modelPath}");
        }
        var manifest = ModelManifest.Load(ModelManifest.PathFor(modelPath));
        if (manifest.Kind != ModelManifest.GridAnomalyKind || manifest.Grid is null || manifest.WindowLength is not > 0 || manifest.Anomaly is null
            || manifest.OutputNames.Length < 2)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} is a '{manifest.Kind}' model, not a grid anomaly model with a grid, window length, two outputs and a calibration");
        }
        if (frameGrid is null)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads the frame model's grid, but the frame model gives none (prepare it again: `edge models prepare --force`)");
        }
        var grid = manifest.Grid;
        if (grid.Height != frameGrid.Height || grid.Width != frameGrid.Width || grid.Channels != frameGrid.Channels)
        {
            throw new ModelException(ModelError.Invalid,
                $"{modelPath} reads {grid.Height}×{grid.Width}×{grid.Channels} grids but the frame model gives {frameGrid.Height}×{frameGrid.Width}×{frameGrid.Channels}");
        }
        var model = ModelSession.Open(modelPath, options, logger);
        var frames = manifest.WindowLength.Value + 1;
        var input = model.Session.InputMetadata.GetValueOrDefault(manifest.InputName);
        if (input is null || input.Dimensions.Length != 3 || input.Dimensions[1] != frames || input.Dimensions[2] != grid.Size
            || manifest.OutputNames.Any(o => !model.Session.OutputMetadata.ContainsKey(o)))
        {
            model.Dispose();
            throw new ModelException(ModelError.Invalid,
                $"{modelPath}: input '{manifest.InputName}' is [{string.Join(',', input?.Dimensions ?? [])}], the manifest needs [-1,{frames},{grid.Size}] and outputs {string.Join(", ", manifest.OutputNames)}");
        }
        return new GridAnomalyModel(model, manifest);
    }

    /// <summary>Runs <paramref name="count"/> windows packed as [count, InputFrames, FeatureSize].</summary>
    public WindowScores Run(float[] windows, int count)
    {
        using var input = OrtValue.CreateTensorValueFromMemory(windows, [count, InputFrames, FeatureSize]);
        using var outputs = _model.Session.Run(_runOptions, [Manifest.InputName], [input], _outputs);
        return new WindowScores(outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    public ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult(Run(windows, count).Scores);
    }

    public ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, CancellationToken ct)
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
