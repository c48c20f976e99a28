using System.Runtime.InteropServices;

namespace Edge.Host;

/// <summary>
/// Turns the first Ctrl+C or SIGTERM into a graceful stop (capture stops, frames already read are finished, sinks are
/// flushed); a second Ctrl+C ends the process at once.
/// </summary>
public sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _sigterm;

    public StopSignal()
    {
        System.Console.CancelKeyPress += OnCancelKeyPress;
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            Stop();
        });
    }

    public CancellationToken Token => _stop.Token;

    private void OnCancelKeyPress(object? sender, ConsoleCancelEventArgs e)
    {
        if (_stop.IsCancellationRequested)
        {
            return; // second press: let the runtime end the process
        }
        e.Cancel = true;
        System.Console.Error.WriteLine("stopping: finishing the frames already read (Ctrl+C again to abort)");
        Stop();
    }

    private void Stop()
    {
        try
        {
            _stop.Cancel();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    public void Dispose()
    {
        System.Console.CancelKeyPress -= OnCancelKeyPress;
        _sigterm.Dispose();
        _stop.Dispose();
    }
}
