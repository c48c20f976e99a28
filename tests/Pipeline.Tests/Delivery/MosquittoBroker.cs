using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Edge.Tests;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>
/// A real mosquitto broker (Debian package, installed by scripts/setup.sh) on a free local port, run as a child
/// process with a generated config. It keeps sessions on disk, so a subscriber's queued messages survive
/// <see cref="Stop"/> and <see cref="Start"/> as they would on a real broker. Disposing kills it and deletes its folder.
/// </summary>
public sealed class MosquittoBroker : IDisposable
{
    private static readonly string[] s_locations = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];
    private readonly string _folder = TestData.NewTempFolder();
    private readonly string _config;
    private readonly StringBuilder _output = new();
    private Process? _process;

    /// <param name="tls">With certificates: a second listener, on <see cref="TlsPort"/>, speaks TLS with the server
    /// certificate and, with <paramref name="requireClientCertificate"/>, accepts only clients whose certificate the same
    /// CA signed. The plain listener stays, for the test's own subscriber.</param>
    public MosquittoBroker(TestCertificates? tls = null, bool requireClientCertificate = false)
    {
        Port = FreePort();
        TlsPort = tls is null ? 0 : FreePort();
        _config = Path.Combine(_folder, "mosquitto.conf");
        // "user": as root, mosquitto would switch to its own user, which cannot write this folder; as anyone else it is ignored.
        var config = string.Create(CultureInfo.InvariantCulture, $"""
            listener {Port} 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location {_folder}/
            user {Environment.UserName}
            log_dest stdout

            """);
        if (tls is not null)
        {
            config += string.Create(CultureInfo.InvariantCulture, $"""
                listener {TlsPort} 127.0.0.1
                cafile {tls.CaFile}
                certfile {tls.ServerCertificate}
                keyfile {tls.ServerKey}
                require_certificate {(requireClientCertificate ? "true" : "false")}

                """);
        }
        File.WriteAllText(_config, config);
    }

    public int Port { get; }

    /// <summary>The TLS listener's port; 0 without one.</summary>
    public int TlsPort { get; }

    public string Log
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts the broker and returns once it accepts connections.</summary>
    public void Start()
    {
        var executable = s_locations.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("mosquitto is not installed: run scripts/setup.sh (apt-get install mosquitto)");
        var info = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(_config);
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var started = Stopwatch.StartNew();
        while (started.Elapsed < TimeSpan.FromSeconds(10))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"mosquitto exited with code {_process.ExitCode}: {Log}");
            }
            try
            {
                using var probe = new TcpClient();
                probe.Connect(IPAddress.Loopback, Port);
                return;
            }
            catch (SocketException)
            {
                Thread.Sleep(50);
            }
        }
        throw new InvalidOperationException($"mosquitto did not listen on port {Port} within 10 s: {Log}");
    }

    /// <summary>Stops the broker as a service manager would (SIGTERM), so it writes its sessions to disk, and waits for it.</summary>
    public void Stop()
    {
        if (_process is { HasExited: false } process)
        {
            Process.Start("kill", ["-TERM", process.Id.ToString(CultureInfo.InvariantCulture)])!.WaitForExit();
            if (!process.WaitForExit(10_000))
            {
                throw new InvalidOperationException("mosquitto did not stop within 10 s of SIGTERM");
            }
        }
        _process?.Dispose();
        _process = null;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill();
            _process.WaitForExit(5_000);
        }
        _process?.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private void Append(string? line)
    {
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
