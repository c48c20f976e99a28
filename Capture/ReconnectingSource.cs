using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Edge.Capture;

/// <summary>
/// A live source that outlives failures of the source it wraps. <see cref="Read"/> opens the source when needed; when
/// opening fails, the stream ends or no frame comes for <see cref="ReconnectOptions.WatchdogMs"/>, it disposes that
/// source, waits (exponential backoff with full jitter, cut short by the token) and opens it again. A live stream has
/// no end: Read returns null only at <see cref="CaptureOptions.MaxFrames"/>; cancelling the token stops it with
/// <see cref="OperationCanceledException"/>. Frame indices keep increasing across connections. The watchdog cancels
/// the inner read, so it frees a source blocked in managed code (the ffmpeg pipe; the ffmpeg child is then killed);
/// it counts all the time a read blocks, including a wait for a free pool buffer.
/// The wrapper owns the current inner source and disposes it on every failure, on cancellation and when disposed;
/// frames it returns are leases from the caller's pool and belong to the caller. Read runs on one thread at a time;
/// <see cref="Status"/> may be read from any thread. Dispose once no Read is running.
/// </summary>
public sealed class ReconnectingSource : IFrameSource
{
    private readonly Func<CancellationToken, IFrameSource> _open;
    private readonly ReconnectOptions _options;
    private readonly long _maxFrames;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Backoff _backoff;
    private IFrameSource? _inner;
    private SourceInfo _info;
    private CaptureStatus _status = new(CaptureState.Connecting, 0, 0, 0, null, null, null);
    private long _connectedTicks;
    private long _indexBase;
    private long _nextIndex;

    /// <param name="streamId">The id every frame is stamped with.</param>
    /// <param name="initialInfo">What is known before the first connection; see <see cref="Info"/>.</param>
    /// <param name="open">Opens the inner source; may throw (a <see cref="CaptureException"/> for expected failures)
    /// and should stop promptly when its token is cancelled.</param>
    /// <param name="maxFrames">Frames to deliver over all connections before Read returns null; 0 for no limit.</param>
    public ReconnectingSource(string streamId, SourceInfo initialInfo, Func<CancellationToken, IFrameSource> open,
        ReconnectOptions options, long maxFrames, ILogger logger)
    {
        options.Validate();
        StreamId = streamId;
        _info = initialInfo with { IsLive = true, Location = Redaction.Redact(initialInfo.Location) };
        _open = open;
        _options = options;
        _maxFrames = maxFrames;
        _logger = logger;
        _backoff = options.NewBackoff();
    }

    public string StreamId { get; }

    /// <summary>
    /// Always live. Before the first connection, Width and Height are the capture resize size (0 when frames keep the
    /// source's size, which is not known yet) and Fps is 0 (unknown); from then on, the latest connection's facts.
    /// </summary>
    public SourceInfo Info => Volatile.Read(ref _info);

    /// <summary>The current state and counters, as one consistent snapshot.</summary>
    public CaptureStatus Status
    {
        get
        {
            lock (_lock)
            {
                return _status;
            }
        }
    }

    public Frame? Read(FramePool pool, CancellationToken ct)
    {
        try
        {
            while (true)
            {
                if (_maxFrames > 0 && Status.Frames >= _maxFrames)
                {
                    Stop();
                    return null;
                }
                ct.ThrowIfCancellationRequested();
                if (_inner is null && !TryConnect(ct))
                {
                    continue;
                }
                string error;
                string? detail = null;
                // The watchdog cancels only this read: the inner source unblocks and is replaced, the caller goes on.
                using (var watchdog = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    watchdog.CancelAfter(_options.WatchdogMs);
                    try
                    {
                        if (_inner!.Read(pool, watchdog.Token) is { } frame)
                        {
                            return Deliver(frame);
                        }
                        // Network streams end by themselves after Capture:ReadTimeoutMs without data.
                        error = "the stream ended or stalled";
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        error = $"no frame for {_options.WatchdogMs} ms";
                    }
                    catch (Exception ex) when (ex is not OperationCanceledException)
                    {
                        error = ex.Message;
                        detail = (ex as CaptureException)?.Detail;
                    }
                }
                Fail(error, detail, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // A read cut off mid-frame leaves the inner source part-way through a frame: never read it again.
            Stop();
            throw;
        }
    }

    private bool TryConnect(CancellationToken ct)
    {
        Update(s => s with { State = CaptureState.Connecting, RetryAtUtc = null });
        try
        {
            _inner = _open(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            Fail(ex.Message, (ex as CaptureException)?.Detail, ct);
            return false;
        }
        _connectedTicks = Stopwatch.GetTimestamp();
        _indexBase = _nextIndex;
        var info = _inner.Info with { IsLive = true, Location = Redaction.Redact(_inner.Info.Location) };
        Volatile.Write(ref _info, info);
        Update(s => s with { State = CaptureState.Running });
        _logger.LogInformation("{Stream}: connected to {Location} ({Width}x{Height}, {Fps:0.##} fps)",
            StreamId, info.Location, info.Width, info.Height, info.Fps);
        return true;
    }

    private Frame Deliver(Frame frame)
    {
        var index = _indexBase + frame.Index;
        _nextIndex = index + 1;
        frame.Stamp(StreamId, index, frame.TimestampMs);
        var stable = Stopwatch.GetElapsedTime(_connectedTicks).TotalMilliseconds >= _options.StableAfterMs;
        if (stable)
        {
            _backoff.Reset();
        }
        Update(s => s with
        {
            Frames = s.Frames + 1,
            LastFrameUtc = DateTime.UtcNow,
            ConsecutiveFailures = stable ? 0 : s.ConsecutiveFailures,
        });
        return frame;
    }

    /// <summary>
    /// Drops the inner source, records why, and waits out the backoff (throws if cancelled meanwhile). The status gets
    /// the user-facing <paramref name="error"/>; the log also gets <paramref name="detail"/> (ffmpeg's reason).
    /// </summary>
    private void Fail(string error, string? detail, CancellationToken ct)
    {
        _inner?.Dispose();
        _inner = null;
        var delayMs = _backoff.Next().TotalMilliseconds;
        var failures = _backoff.Failures;
        var status = Update(s =>
        {
            return s with
            {
                State = CaptureState.Backoff,
                Reconnects = s.Reconnects + 1,
                ConsecutiveFailures = failures,
                LastError = Redaction.Redact(error),
                RetryAtUtc = DateTime.UtcNow.AddMilliseconds(delayMs),
            };
        });
        if (detail is null)
        {
            _logger.LogWarning("{Stream}: {Error}; reconnecting in {DelayMs:0} ms (failure {Failures} in a row)",
                StreamId, status.LastError, delayMs, status.ConsecutiveFailures);
        }
        else
        {
            _logger.LogWarning("{Stream}: {Error} ({Detail}); reconnecting in {DelayMs:0} ms (failure {Failures} in a row)",
                StreamId, status.LastError, Redaction.Redact(detail), delayMs, status.ConsecutiveFailures);
        }
        ct.WaitHandle.WaitOne(TimeSpan.FromMilliseconds(delayMs));
        ct.ThrowIfCancellationRequested();
    }

    private void Stop()
    {
        _inner?.Dispose();
        _inner = null;
        Update(s => s with { State = CaptureState.Stopped, RetryAtUtc = null });
    }

    private CaptureStatus Update(Func<CaptureStatus, CaptureStatus> change)
    {
        lock (_lock)
        {
            return _status = change(_status);
        }
    }

    public void Dispose() => Stop();
}
