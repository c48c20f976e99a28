using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Edge.Tests;

namespace Edge.Capture.Tests;

/// <summary>
/// A real RTSP server (GStreamer's gst-rtsp-server, run by tests/Capture.Tests/rtsp_server.py with the system
/// python3) serving a video file in a loop at <see cref="Url"/>. It can be killed, restarted on the same port, and
/// frozen with SIGSTOP to make a stream that stays connected but sends nothing.
/// </summary>
public sealed class RtspServer : IDisposable
{
    private readonly string _video;
    private readonly int _fps;
    private readonly string _frames = TestData.NewTempFolder();
    private Process? _process;

    private readonly string[] _credentials;

    /// <param name="user">With <paramref name="password"/>: the stream requires basic authentication with them.</param>
    public RtspServer(string video, int fps, string? user = null, string? password = null)
    {
        _video = video;
        _fps = fps;
        _credentials = user is null || password is null ? [] : [user, password];
        Port = FreePort();
        Start();
    }

    public int Port { get; }

    public string Url => $"rtsp://127.0.0.1:{Port}/test";

    /// <summary>The stream's URL with <paramref name="user"/> and <paramref name="password"/> in it, percent-encoded.</summary>
    public string UrlWith(string user, string password) =>
        $"rtsp://{Uri.EscapeDataString(user)}:{Uri.EscapeDataString(password)}@127.0.0.1:{Port}/test";

    /// <summary>Starts the server and returns once it listens.</summary>
    public void Start()
    {
        var script = Path.Combine(TestData.RepoRoot, "tests", "Capture.Tests", "rtsp_server.py");
        var process = Process.Start(new ProcessStartInfo("/usr/bin/python3",
            [script, Port.ToString(System.Globalization.CultureInfo.InvariantCulture), _video, _fps.ToString(System.Globalization.CultureInfo.InvariantCulture), _frames, .. _credentials])
        { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true })!;
        _process = process;
        var stderr = process.StandardError.ReadToEndAsync();
        var ready = process.StandardOutput.ReadLineAsync();
        if (!ready.Wait(TimeSpan.FromSeconds(30)) || ready.Result != "serving")
        {
            Kill();
            throw new InvalidOperationException(
                "the RTSP test server did not start (run scripts/setup.sh: it installs gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins): "
                + (stderr.Wait(TimeSpan.FromSeconds(2)) ? stderr.Result : ""));
        }
    }

    /// <summary>Kills the server at once (SIGKILL), as a crash or power cut would.</summary>
    public void Kill()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }
            process.Dispose();
            _process = null;
        }
    }

    /// <summary>Freezes the server: connections stay open, no packet is sent.</summary>
    public void Pause() => Signal("STOP");

    public void Resume() => Signal("CONT");

    private void Signal(string name)
    {
        using var kill = Process.Start("kill", ["-" + name, _process!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    /// <summary>A port nobody listens on at the moment it is returned.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        Kill();
        Directory.Delete(_frames, recursive: true);
    }
}
