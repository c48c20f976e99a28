using System.Diagnostics;
using System.Threading.Channels;
using Edge.Models;
using OpenCvSharp;

namespace Edge.Pipeline;

/// <summary>
/// One frame model session shared by many streams' pipelines, with batching across streams: each pipeline's CNN
/// stage hands over its (small) batch and awaits the result; one worker thread takes the first waiting request, then
/// waits up to <c>windowMs</c> for more, and runs all of them as one model call of up to <see cref="MaxBatch"/>
/// frames. Ten streams at 10 fps each thus make a few calls of several frames instead of many calls of one, which is
/// what a GPU (and, less so, a CPU) runs fastest. Owns the <see cref="FrameEmbedder"/>; the images of a request stay
/// the caller's, and are read only until the request's task completes.
/// </summary>
public sealed class SharedEmbedder : IFrameEmbedder, IAsyncDisposable
{
    private readonly FrameEmbedder _model;
    private readonly Channel<Request> _requests = Channel.CreateUnbounded<Request>(new UnboundedChannelOptions { SingleReader = true });
    private readonly TimeSpan _window;
    private readonly Task _worker;
    private long _calls;
    private long _frames;

    /// <param name="windowMs">How long a call waits for other streams' frames once it has one request.</param>
    /// <param name="onCall">Called after each model call with its duration in ms and its frame count (metrics).</param>
    public SharedEmbedder(FrameEmbedder model, double windowMs, Action<double, int>? onCall = null)
    {
        _model = model;
        _window = TimeSpan.FromMilliseconds(windowMs);
        OnCall = onCall;
        _worker = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    public int EmbeddingSize => _model.EmbeddingSize;

    public int MaxBatch => _model.MaxBatch;

    public ExecutionProvider Provider => _model.Provider;

    public ModelManifest Manifest => _model.Manifest;

    public Action<double, int>? OnCall { get; set; }

    /// <summary>Model calls so far.</summary>
    public long Calls => Interlocked.Read(ref _calls);

    /// <summary>Frames embedded so far.</summary>
    public long Frames => Interlocked.Read(ref _frames);

    public ValueTask<float[]> EmbedAsync(IReadOnlyList<Mat> images, CancellationToken ct)
    {
        if (images.Count < 1 || images.Count > MaxBatch)
        {
            throw new ArgumentOutOfRangeException(nameof(images), images.Count, $"a request must hold 1 to {MaxBatch} images");
        }
        var request = new Request(images, ct);
        if (!_requests.Writer.TryWrite(request))
        {
            throw new ObjectDisposedException(nameof(SharedEmbedder));
        }
        // Not WaitAsync(ct): the caller must not release the images while the worker may still be reading them.
        return new ValueTask<float[]>(request.Result.Task);
    }

    private async Task RunAsync()
    {
        var reader = _requests.Reader;
        var batch = new List<Request>();
        var images = new List<Mat>(MaxBatch);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            var frames = 0;
            var deadline = Stopwatch.GetTimestamp() + (long)(_window.TotalSeconds * Stopwatch.Frequency);
            while (frames < MaxBatch)
            {
                if (reader.TryPeek(out var next))
                {
                    if (frames + next.Images.Count > MaxBatch)
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
                    frames += next.Images.Count;
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
            if (batch.Count == 0)
            {
                continue;
            }
            Run(batch, images, frames);
        }
    }

    private void Run(List<Request> batch, List<Mat> images, int frames)
    {
        images.Clear();
        foreach (var request in batch)
        {
            images.AddRange(request.Images);
        }
        try
        {
            var started = Stopwatch.GetTimestamp();
            var embeddings = _model.Embed(images);
            var elapsedMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            // Counted before the callers are answered, so a caller sees its own frames in the totals.
            Interlocked.Increment(ref _calls);
            Interlocked.Add(ref _frames, frames);
            OnCall?.Invoke(elapsedMs, frames);
            var offset = 0;
            foreach (var request in batch)
            {
                var length = request.Images.Count * EmbeddingSize;
                request.Result.TrySetResult(embeddings.Slice(offset, length).ToArray());
                offset += length;
            }
        }
        catch (Exception ex)
        {
            foreach (var request in batch)
            {
                request.Result.TrySetException(ex);
            }
        }
        finally
        {
            images.Clear();
        }
    }

    /// <summary>Stops taking requests, finishes the ones queued, then frees the model.</summary>
    public async ValueTask DisposeAsync()
    {
        _requests.Writer.TryComplete();
        await _worker.ConfigureAwait(false);
        _model.Dispose();
    }

    private sealed record Request(IReadOnlyList<Mat> Images, CancellationToken Cancellation)
    {
        public TaskCompletionSource<float[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
