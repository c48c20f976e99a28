using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Edge.Capture.Tests;

/// <summary>
/// A real HTTP MJPEG server: ffmpeg -listen 1 serving a video file at its own rate (one client), as
/// <see cref="NetworkStreamSourceTests"/> uses it; stream copy when the file already holds MJPEG.
/// </summary>
public sealed class MjpegHttpServer : IDisposable
{
    private readonly Process _process;

    public MjpegHttpServer(string video, bool copy)
    {
        Port = RtspServer.FreePort();
        Url = $"http://127.0.0.1:{Port}/cam.mjpg";
        string[] codec = copy ? ["-c:v", "copy"] : ["-c:v", "mjpeg", "-q:v", "3"];
        _process = Process.Start(new ProcessStartInfo("ffmpeg",
            ["-hide_banner", "-nostdin", "-loglevel", "error", "-re", "-i", video, .. codec, "-f", "mpjpeg", "-listen", "1", Url])
        { UseShellExecute = false, RedirectStandardError = true })!;
        WaitForListen(Port);
    }

    public int Port { get; }

    public string Url { get; }

    /// <summary>Waits until the port is listening, without connecting: ffmpeg -listen 1 serves one client only.</summary>
    internal static void WaitForListen(int port)
    {
        var local = $":{port:X4} ";
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            // /proc/net/tcp: "sl local_address rem_address st ...", state 0A is LISTEN.
            if (File.ReadLines("/proc/net/tcp").Skip(1).Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                .Any(f => (f[1] + " ").EndsWith(local, StringComparison.Ordinal) && f[3] == "0A"))
            {
                return;
            }
            Thread.Sleep(50);
        }
        throw new TimeoutException($"ffmpeg did not listen on port {port}");
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            _process.WaitForExit();
        }
        _process.Dispose();
    }
}

/// <summary>
/// A TCP port that is open but speaks no video protocol: it accepts every connection, sends 4 KiB of random bytes
/// and closes it. What a probe of an SSH, database or admin port finds.
/// </summary>
public sealed class GarbageServer : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;

    public GarbageServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    public int Port { get; }

    /// <summary>Connections accepted so far: proof that the client reached an open port.</summary>
    public int Connections => Volatile.Read(ref _connections);

    private int _connections;

    private async Task AcceptAsync()
    {
        var garbage = new byte[4096];
        new Random(11).NextBytes(garbage);
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            using (client)
            {
                try
                {
                    await client.GetStream().WriteAsync(garbage, _stop.Token);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException)
                {
                }
            }
        }
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Stop();
        _accepting.Wait(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
