using Edge.Models;

namespace Edge.Pipeline;

/// <summary>
/// One GRU/LSTM session shared by many streams' temporal stages, batched across streams: windows that several streams
/// submit within the batch window run as one call (<see cref="RequestBatcher{TItem, TResult}"/>). Owns the model.
/// </summary>
public sealed class SharedSequenceModel : IWindowModel, IAsyncDisposable
{
    private readonly SequenceModel _model;
    private readonly RequestBatcher<float[], float[]> _batcher;

    public SharedSequenceModel(SequenceModel model, int maxWindows, double windowMs)
    {
        _model = model;
        _batcher = new RequestBatcher<float[], float[]>(maxWindows, TimeSpan.FromMilliseconds(windowMs), Run);
    }

    public ModelManifest Manifest => _model.Manifest;

    public bool IsAnomaly => _model.IsAnomaly;

    public int InputFrames => _model.InputFrames;

    public int FeatureSize => _model.FeatureSize;

    /// <summary>Model calls so far.</summary>
    public long Calls => _batcher.Calls;

    /// <summary>Calls that failed and were run again request by request (one bad input fails only its own request).</summary>
    public long Retried => _batcher.Retried;

    /// <summary>Windows run so far.</summary>
    public long Windows => _batcher.Items;

    public async ValueTask<float[]> RunAsync(float[] windows, int count, CancellationToken ct)
    {
        var size = InputFrames * FeatureSize;
        var items = new float[count][];
        for (var i = 0; i < count; i++)
        {
            items[i] = windows.AsSpan(i * size, size).ToArray();
        }
        var rows = await _batcher.SubmitAsync(items, ct).ConfigureAwait(false);
        return [.. rows.SelectMany(r => r)];
    }

    private float[][] Run(IReadOnlyList<float[]> windows)
    {
        var size = InputFrames * FeatureSize;
        var packed = new float[windows.Count * size];
        for (var i = 0; i < windows.Count; i++)
        {
            windows[i].CopyTo(packed, i * size);
        }
        var outputs = _model.Run(packed, windows.Count);
        var width = outputs.Length / windows.Count;
        return [.. Enumerable.Range(0, windows.Count).Select(i => outputs.AsSpan(i * width, width).ToArray())];
    }

    /// <summary>Stops taking requests, finishes the ones queued, then frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        await _batcher.DisposeAsync().ConfigureAwait(false);
        _model.Dispose();
    }
}
