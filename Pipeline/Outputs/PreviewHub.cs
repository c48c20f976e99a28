using System.Collections.Concurrent;

namespace Edge.Pipeline.Outputs;

/// <summary>One encoded preview: the JPEG bytes and its sequence number (rising, from 1).</summary>
public sealed record PreviewFrame(byte[] Jpeg, long Sequence);

/// <summary>
/// The latest annotated JPEG of each stream, for the live previews. Publishers (one <c>PreviewSink</c> per stream)
/// replace it; viewers read it or await the next one. JPEG arrays are immutable once published, so viewers share
/// them without copies. Thread-safe.
/// </summary>
public sealed class PreviewHub
{
    private readonly ConcurrentDictionary<string, Channel> _streams = new(StringComparer.Ordinal);

    // One counter for the hub, not per stream: a viewer waiting across a stream's removal and re-adding must
    // still see the new stream's previews as newer than the last one it had.
    private long _sequence;

    private sealed class Channel
    {
        public PreviewFrame? Latest;

        // Completed with the next frame; replaced by each publish. RunContinuationsAsynchronously keeps viewers'
        // network writes off the publishing pipeline thread.
        public TaskCompletionSource<PreviewFrame> Next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Publish(string stream, byte[] jpeg)
    {
        var channel = _streams.GetOrAdd(stream, _ => new Channel());
        TaskCompletionSource<PreviewFrame> waiting;
        lock (channel)
        {
            var frame = new PreviewFrame(jpeg, Interlocked.Increment(ref _sequence));
            channel.Latest = frame;
            waiting = channel.Next;
            channel.Next = new TaskCompletionSource<PreviewFrame>(TaskCreationOptions.RunContinuationsAsynchronously);
            waiting.SetResult(frame);
        }
    }

    /// <summary>The stream's latest preview, or null before its first.</summary>
    public PreviewFrame? Latest(string stream) =>
        _streams.TryGetValue(stream, out var channel) ? Volatile.Read(ref channel.Latest) : null;

    /// <summary>
    /// The first preview after sequence number <paramref name="afterSequence"/> (0 = any): the latest at once if it
    /// is newer, else the next published.
    /// </summary>
    public Task<PreviewFrame> NextAsync(string stream, long afterSequence, CancellationToken ct)
    {
        var channel = _streams.GetOrAdd(stream, _ => new Channel());
        lock (channel)
        {
            return channel.Latest is { } latest && latest.Sequence > afterSequence
                ? Task.FromResult(latest)
                : channel.Next.Task.WaitAsync(ct);
        }
    }

    /// <summary>Forgets a removed stream's preview.</summary>
    public void Remove(string stream) => _streams.TryRemove(stream, out _);
}
