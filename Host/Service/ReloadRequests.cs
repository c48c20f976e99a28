using System.Runtime.InteropServices;
using System.Threading.Channels;

namespace Edge.Host.Service;

/// <summary>
/// SIGHUP as a queue of reload requests, registered before anything else of <c>edge run</c> happens: without a
/// handler, SIGHUP ends a process, so one that arrived while models were loading killed the service. Requests that
/// arrive while one is waiting are merged (a reload reads the whole config, so one is enough), and they are taken one
/// at a time, after start-up, by whoever reads <see cref="Reader"/>. Dispose to restore the default handling.
/// </summary>
public sealed class ReloadRequests : IDisposable
{
    private readonly Channel<DateTimeOffset> _requests = Channel.CreateBounded<DateTimeOffset>(
        new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });
    private readonly PosixSignalRegistration? _sighup;
    private long _received;

    /// <param name="listen">Register the SIGHUP handler (tests create requests by hand with false).</param>
    public ReloadRequests(bool listen = true)
    {
        if (listen && !OperatingSystem.IsWindows())
        {
            _sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                Request();
            });
        }
    }

    /// <summary>SIGHUPs received so far (merged ones included).</summary>
    public long Received => Interlocked.Read(ref _received);

    public ChannelReader<DateTimeOffset> Reader => _requests.Reader;

    /// <summary>Asks for a reload, as SIGHUP does.</summary>
    public void Request()
    {
        Interlocked.Increment(ref _received);
        _requests.Writer.TryWrite(DateTimeOffset.UtcNow);
    }

    public void Dispose()
    {
        _sighup?.Dispose();
        _requests.Writer.TryComplete();
    }
}
