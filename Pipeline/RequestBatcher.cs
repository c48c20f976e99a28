using System.Diagnostics;
using System.Threading.Channels;

namespace Edge.Pipeline;

/// <summary>
/// Merges requests from many callers (one per stream) into batches for one model: a worker thread takes the first
/// waiting request, waits up to the batch window for more, and runs all of them as one call of up to
/// <c>maxItems</c> items. Each request gets one result per item it sent. When a call of several requests fails, each
/// request runs again alone, so only a request whose own items fail gets the exception. A request's items are read
/// only until its task completes; a request cancelled before its batch runs is never read and ends cancelled.
/// </summary>
public sealed class RequestBatcher<TItem, TResult> : IAsyncDisposable
{
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<IReadOnlyList<TItem>, TResult[]> _run;
    private readonly TimeSpan _window;
    private readonly Action<double, int>? _onCall;
    private readonly Task _worker;
    private long _calls;
    private long _items;
    private long _retried;

    /// <param name="run">Runs one batch; returns one result per item, in order. Called on the worker thread only.</param>
    /// <param name="onCall">Called after each batch with its duration in ms and its item count (metrics).</param>
    public RequestBatcher(int maxItems, TimeSpan window, Func<IReadOnlyList<TItem>, TResult[]> run, Action<double, int>? onCall = null)
    {
        MaxItems = maxItems;
        _window = window;
        _run = run;
        _onCall = onCall;
        _worker = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public int MaxItems { get; }

    /// <summary>Batches run so far.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Items run so far.</summary>
    public long Items => Interlocked.Read(ref _items);

    /// <summary>Batches that failed and were run again one request at a time.</summary>
    public long Retried => Interlocked.Read(ref _retried);

    public Task<TResult[]> SubmitAsync(IReadOnlyList<TItem> items, CancellationToken ct)
    {
        if (items.Count < 1 || items.Count > MaxItems)
        {
            throw new ArgumentOutOfRangeException(nameof(items), items.Count, $"a request must hold 1 to {MaxItems} items");
        }
        var request = new Request(items, ct);
        if (!_requests.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(GetType().Name);
        }
        // Not WaitAsync(ct): the caller must not release the items while the worker may still be reading them.
        return request.Result.Task;
    }

    private async Task RunAsync()
    {
        var reader = _requests.Reader;
        var batch = new List<Request>();
        var items = new List<TItem>(MaxItems);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var count = 0;
            var deadline = Stopwatch.GetTimestamp() + (long)(_window.TotalSeconds * Stopwatch.Frequency);
            while (count < MaxItems)
            {
                if (reader.TryPeek(out var next))
                {
                    if (count + next.Count > MaxItems)
                    {
                        break;
                    }
                    reader.TryRead(out _);
                    if (next.Cancellation.IsCancellationRequested)
                    {
                        next.Result.TrySetCanceled(next.Cancellation);
                        continue;
                    }
                    batch.Add(next);
                    count += next.Count;
                    continue;
                }
                var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                if (batch.Count > 0 && remaining <= TimeSpan.Zero)
                {
                    break;
                }
                using var wait = new CancellationTokenSource(remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero);
                try
                {
                    if (!await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                    {
                        break;
                    }
                }
                catch (OperationCanceledException)
                {
                    if (batch.Count > 0)
                    {
                        break;
                    }
                }
            }
            if (batch.Count > 0)
            {
                Run(batch, items, count);
            }
        }
    }

    private void Run(List<Request> batch, List<TItem> items, int count)
    {
        items.Clear();
        foreach (var request in batch)
        {
            items.AddRange(request.Items);
        }
        try
        {
            var results = Call(items, count);
            var offset = 0;
            foreach (var request in batch)
            {
                // Count, not Items.Count: once answered, the caller may reuse its list for its next request.
                request.Result.TrySetResult(results[offset..(offset + request.Count)]);
                offset += request.Count;
            }
        }
        catch (Exception) when (batch.Count > 1)
        {
            // One bad input (a frame of the wrong type, a window of the wrong size) must not fail the other streams
            // that happened to share its call: each request runs again on its own and only the failing ones fail.
            Interlocked.Increment(ref _retried);
            foreach (var request in batch)
            {
                RunAlone(request, items);
            }
        }
        catch (Exception ex)
        {
            batch[0].Result.TrySetException(ex);
        }
        finally
        {
            items.Clear();
        }
    }

    private void RunAlone(Request request, List<TItem> items)
    {
        items.Clear();
        items.AddRange(request.Items);
        try
        {
            request.Result.TrySetResult(Call(items, request.Count));
        }
        catch (Exception ex)
        {
            request.Result.TrySetException(ex);
        }
    }

    /// <summary>One model call, counted (before the callers are answered, so a caller sees its own items in the totals).</summary>
    private TResult[] Call(List<TItem> items, int count)
    {
        var started = Stopwatch.GetTimestamp();
        var results = _run(items);
        var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (results.Length != count)
        {
            throw new InvalidOperationException($"the model returned {results.Length} results for {count} items");
        }
        Interlocked.Increment(ref _calls);
        Interlocked.Add(ref _items, count);
        _onCall?.Invoke(elapsedMs, count);
        return results;
    }

    /// <summary>Stops taking requests and finishes the ones queued.</summary>
    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
    }

    private sealed record Request(IReadOnlyList<TItem> Items, CancellationToken Cancellation)
    {
        public int Count { get; } = Items.Count;

        public TaskCompletionSource<TResult[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
