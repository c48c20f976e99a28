using Edge.Capture;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Service;

public sealed record ReconnectOptions(int InitialBackoffMs = 500, int MaxBackoffMs = 30_000);

public sealed record SourceHealth(StreamState State, string? LastError, DateTime? LastFrameUtc, long Reconnects);

/// <summary>
/// A live source that reopens its inner source after a failure or an end, with exponential backoff and jitter (files
/// marked to loop reopen at once). Never ends on its own; Read returns null only when stopped. Owns the inner source.
/// </summary>
public sealed class ReconnectingSource(string streamId, string redacted, Func<IFrameSource> open, bool loop,
    ReconnectOptions options, ILogger logger) : IFrameSource
{
    private IFrameSource? _inner;
    private volatile SourceHealth _health = new(StreamState.Connecting, null, null, 0);
    private int _failures;

    public string StreamId => streamId;

    public SourceInfo Info { get; } = new(SourceKind.Network, redacted, true, 0, 0, 0, null, "reconnecting");

    public SourceHealth Health => _health;

    public Frame? Read(FramePool pool, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            string? error = null;
            var ended = false;
            try
            {
                if (_inner is null)
                {
                    _health = _health with { State = StreamState.Connecting };
                    _inner = open();
                }
                var frame = _inner.Read(pool, ct);
                if (frame is not null)
                {
                    _failures = 0;
                    _health = _health with { State = StreamState.Running, LastFrameUtc = DateTime.UtcNow };
                    return frame;
                }
                ended = true;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex) when (ex is CaptureException or IOException or InvalidOperationException)
            {
                error = ex.Message;
            }
            _inner?.Dispose();
            _inner = null;
            if (ended && loop && error is null)
            {
                continue;
            }
            var delay = Math.Min(options.MaxBackoffMs, options.InitialBackoffMs * Math.Pow(2, Math.Min(_failures, 16)));
            delay = Random.Shared.NextDouble() * delay;
            _failures++;
            _health = _health with { State = StreamState.Backoff, LastError = error ?? "the stream ended", Reconnects = _health.Reconnects + 1 };
            logger.LogWarning("{Stream}: {Error}; reconnecting in {Delay:0.0} s", streamId, error ?? "the stream ended", delay / 1000);
            if (ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(delay)))
            {
                break;
            }
        }
        _health = _health with { State = StreamState.Stopped };
        return null;
    }

    public void Dispose() => _inner?.Dispose();
}
