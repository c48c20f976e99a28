using Edge.Models;

namespace Edge.Pipeline;

/// <summary>
/// One window-model session (a GRU/LSTM, the default anomaly model) shared by many streams' temporal stages, batched
/// across streams: windows that several streams submit within the batch window run as one call
/// (<see cref="RequestBatcher{TItem, TResult}"/>); cell maps travel with their scores. Owns the model.
/// </summary>
public sealed class SharedSequenceModel : IWindowModel, IAsyncDisposable
{
    private readonly IWindowModel _model;
    private readonly RequestBatcher<(float[] Window, float Gap), (float[] Output, float[] Cells)> _batcher;
    private readonly int _maxWindows;

    /// <param name="model">The model, owned from here on (disposed with this).</param>
    public SharedSequenceModel(IWindowModel model, int maxWindows, double windowMs)
    {
        _model = model;
        _maxWindows = maxWindows;
        _batcher = new RequestBatcher<(float[], float), (float[], float[])>(maxWindows, TimeSpan.FromMilliseconds(windowMs), Run);
    }

    public ModelManifest Manifest => _model.Manifest;

    public bool IsAnomaly => _model.IsAnomaly;

    public int InputFrames => _model.InputFrames;

    public int FeatureSize => _model.FeatureSize;

    public bool ReadsGrid => _model.ReadsGrid;

    public bool ReadsFlow => _model.ReadsFlow;

    public GridDescription? CellGrid => _model.CellGrid;

    public double? FrameIntervalMs => _model.FrameIntervalMs;

    /// <summary>Model calls so far.</summary>
    public long Calls => _batcher.Calls;

    /// <summary>Calls that failed and were run again request by request (one bad input fails only its own request).</summary>
    public long Retried => _batcher.Retried;

    /// <summary>Windows run so far.</summary>
    public long Windows => _batcher.Items;

    public async ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct) =>
        (await RunWithCellsAsync(windows, count, ct).ConfigureAwait(false)).Scores;

    public ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, CancellationToken ct) =>
        RunWithCellsAsync(windows, count, null, ct);

    public async ValueTask<WindowScores> RunWithCellsAsync(float[] windows, int count, float[]? gaps, CancellationToken ct)
    {
        var size = InputFrames * FeatureSize;
        var items = new (float[], float)[count];
        for (var i = 0; i < count; i++)
        {
            items[i] = (windows.AsSpan(i * size, size).ToArray(), gaps?[i] ?? 1f);
        }
        // A request larger than a call (many tracks due at one frame) goes in parts, each batched with other streams'.
        var rows = new List<(float[] Output, float[] Cells)>(count);
        foreach (var part in items.Chunk(_maxWindows))
        {
            rows.AddRange(await _batcher.SubmitAsync(part, ct).ConfigureAwait(false));
        }
        return new WindowScores([.. rows.SelectMany(r => r.Output)], [.. rows.SelectMany(r => r.Cells)]);
    }

    private (float[], float[])[] Run(IReadOnlyList<(float[] Window, float Gap)> windows)
    {
        var size = InputFrames * FeatureSize;
        var packed = new float[windows.Count * size];
        for (var i = 0; i < windows.Count; i++)
        {
            windows[i].Window.CopyTo(packed, i * size);
        }
        var gaps = windows.Select(w => w.Gap).ToArray();
        var result = _model.RunWithCellsAsync(packed, windows.Count, gaps, CancellationToken.None).AsTask().GetAwaiter().GetResult();
        var width = result.Scores.Length / windows.Count;
        var cells = result.Cells.Length / windows.Count;
        return [.. Enumerable.Range(0, windows.Count).Select(i =>
            (result.Scores.AsSpan(i * width, width).ToArray(), result.Cells.AsSpan(i * cells, cells).ToArray()))];
    }

    /// <summary>Stops taking requests, finishes the ones queued, then frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        await _batcher.DisposeAsync().ConfigureAwait(false);
        (_model as IDisposable)?.Dispose();
    }
}
