using Edge.Capture;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Pipeline.Delivery;

/// <summary>
/// Delivers the outbox: one loop per enabled target reads that target's pending messages in order, a page at a time,
/// sends each until it is delivered (or refused for good), and backs off exponentially, with jitter, up to
/// <see cref="DeliveryOptions.MaxBackoffMs"/> while the target fails (<see cref="Backoff"/>). Nothing is dropped: a message stays pending
/// until its target acknowledges it, across restarts, so delivery is at least once and receivers drop repeats by the
/// event id. Logs say when a target starts failing, once a minute while it still fails, and when it recovers.
/// A hosted service: start and stop it like any other (<c>edge process</c> does so itself); DisposeAsync stops it
/// too. It does not own the outbox, which must outlive it; it owns its targets' connections.
/// </summary>
public sealed class EventDelivery : BackgroundService, IAsyncDisposable
{
    private const int PageSize = 100;
    private const double InitialBackoffMs = 500;
    private static readonly TimeSpan s_idlePoll = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan s_stillFailingEvery = TimeSpan.FromMinutes(1);

    private readonly EventOutbox _outbox;
    private readonly DeliveryOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<string, TargetProgress> _progress;

    public EventDelivery(EventOutbox outbox, DeliveryOptions options, ILogger logger)
    {
        _outbox = outbox;
        _options = options;
        _logger = logger;
        _progress = outbox.Targets.ToDictionary(t => t, _ => new TargetProgress(), StringComparer.Ordinal);
    }

    /// <summary>Per target: delivered and refused by this instance, pending in the whole outbox (earlier runs included).</summary>
    /// <remarks>Read under the target's lock, so a message that has just left the outbox is already counted: once
    /// <see cref="WaitForDeliveryAsync"/> has seen nothing pending, delivered + failed + pending adds up.</remarks>
    public IReadOnlyList<DeliveryCounts> Counts() => [.. _outbox.Targets.Select(t =>
    {
        var progress = _progress[t];
        lock (progress)
        {
            return new DeliveryCounts(t, progress.Delivered, progress.Failed, _outbox.Count(t).Pending);
        }
    })];

    /// <summary>
    /// Waits until no target has a pending message; false when <paramref name="timeout"/> passes first or
    /// <paramref name="ct"/> asks to stop (what is left stays pending).
    /// </summary>
    public async Task<bool> WaitForDeliveryAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            while (_outbox.Targets.Any(t => _outbox.Count(t).Pending > 0))
            {
                await Task.Delay(100, limit.Token).ConfigureAwait(false);
            }
            return true;
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Stops delivery (what is not acknowledged stays pending) and releases it.</summary>
    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var targets = new List<IDeliveryTarget>();
        foreach (var name in _outbox.Targets)
        {
            targets.Add(name == DeliveryTargets.Mqtt ? new MqttTarget(_options, _logger) : new WebhookTarget(_options.Webhook));
        }
        try
        {
            await Task.WhenAll(targets.Select(t => RunAsync(t, stoppingToken))).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what was not acknowledged stays pending for the next start.
        }
        finally
        {
            foreach (var target in targets)
            {
                await target.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task RunAsync(IDeliveryTarget target, CancellationToken ct)
    {
        await Task.Yield();
        var progress = _progress[target.Target];
        // The same full-jitter rule as reconnecting sources: a fleet that lost one broker does not come back in step.
        var backoff = new Backoff(Math.Min(InitialBackoffMs, _options.MaxBackoffMs), _options.MaxBackoffMs);
        _logger.LogInformation("Delivering events to {Target} {Endpoint}; {Pending} pending", target.Target, target.Endpoint, _outbox.Count(target.Target).Pending);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var page = _outbox.ReadPending(target.Target, PageSize);
                if (page.Count == 0)
                {
                    await _outbox.WaitForEnqueueAsync(s_idlePoll, ct).ConfigureAwait(false);
                    continue;
                }
                foreach (var message in page)
                {
                    await DeliverAsync(target, message, progress, backoff, ct).ConfigureAwait(false);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The outbox itself failed (disk full, file locked too long): keep the loop, back off, try again.
                if (progress.FailingSinceUtc is null)
                {
                    _logger.LogError(ex, "Delivery to {Target} cannot use the outbox {Path}; retrying with backoff", target.Target, _outbox.Path);
                }
                progress.Fail(DateTimeOffset.UtcNow);
                await Task.Delay(backoff.Next(), ct).ConfigureAwait(false);
            }
        }
    }

    private async Task DeliverAsync(IDeliveryTarget target, OutboxMessage message, TargetProgress progress, Backoff backoff, CancellationToken ct)
    {
        while (true)
        {
            var outcome = await target.SendAsync(message, ct).ConfigureAwait(false);
            var now = DateTimeOffset.UtcNow;
            if (outcome.Result == SendResult.Retry)
            {
                _outbox.RecordAttempt(message, outcome.Reason);
                var delay = backoff.Next(outcome.RetryAfter);
                LogFailure(target, progress, outcome.Reason, delay, now);
                await Task.Delay(delay, ct).ConfigureAwait(false);
                continue;
            }
            // Any answer, a refusal included, means the target is reachable again.
            if (progress.FailingSinceUtc is { } since)
            {
                _logger.LogInformation("Delivery to {Target} resumed after {Seconds:0.0} s and {Attempts} failed attempts; {Pending} pending",
                    target.Target, (now - since).TotalSeconds, progress.FailedAttempts, _outbox.Count(target.Target).Pending);
            }
            progress.Recover();
            backoff.Reset();
            if (outcome.Result == SendResult.Delivered)
            {
                lock (progress)
                {
                    _outbox.MarkDelivered(message);
                    progress.Delivered++;
                }
                _logger.LogDebug("Delivered event {Id} to {Target}", message.EventId, target.Target);
            }
            else
            {
                lock (progress)
                {
                    _outbox.MarkFailed(message, outcome.Reason);
                    progress.Failed++;
                }
                _logger.LogWarning("{Target} refused event {Id} ({Reason}): marked failed, not retried", target.Target, message.EventId, outcome.Reason);
            }
            return;
        }
    }

    /// <summary>One warning when a target starts failing and one a minute while it still fails; each attempt at debug.</summary>
    private void LogFailure(IDeliveryTarget target, TargetProgress progress, string reason, TimeSpan delay, DateTimeOffset now)
    {
        var first = progress.FailingSinceUtc is null;
        progress.Fail(now);
        _logger.LogDebug("Delivery to {Target} failed ({Reason}); next try in {Delay:0.0} s", target.Target, reason, delay.TotalSeconds);
        if (first)
        {
            _logger.LogWarning("Delivery to {Target} {Endpoint} failing: {Reason}; retrying with backoff up to {Max:0.#} s; {Pending} pending",
                target.Target, target.Endpoint, reason, _options.MaxBackoffMs / 1000.0, _outbox.Count(target.Target).Pending);
            progress.ReportedUtc = now;
        }
        else if (now - progress.ReportedUtc >= s_stillFailingEvery)
        {
            _logger.LogWarning("Delivery to {Target} still failing after {Seconds:0} s and {Attempts} attempts: {Reason}; {Pending} pending",
                target.Target, (now - progress.FailingSinceUtc!.Value).TotalSeconds, progress.FailedAttempts, reason, _outbox.Count(target.Target).Pending);
            progress.ReportedUtc = now;
        }
    }

    /// <summary>
    /// One target's numbers and failure state; touched only by that target's loop, read by <see cref="Counts"/>. Its
    /// lock makes taking a message out of the outbox and counting it one step for <see cref="Counts"/>.
    /// </summary>
    private sealed class TargetProgress
    {
        public long Delivered { get; set; }

        public long Failed { get; set; }

        public DateTimeOffset? FailingSinceUtc { get; private set; }

        public DateTimeOffset ReportedUtc { get; set; }

        public int FailedAttempts { get; private set; }

        public void Fail(DateTimeOffset now)
        {
            FailingSinceUtc ??= now;
            FailedAttempts++;
        }

        public void Recover()
        {
            FailingSinceUtc = null;
            FailedAttempts = 0;
        }
    }
}

/// <param name="Delivered">Delivered by this delivery instance (this run).</param>
/// <param name="Failed">Refused for good by the target during this run.</param>
/// <param name="Pending">Still pending in the outbox, earlier runs' messages included.</param>
public sealed record DeliveryCounts(string Target, long Delivered, long Failed, long Pending);
