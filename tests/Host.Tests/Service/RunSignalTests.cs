using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Edge.Tests;

namespace Edge.Host.Tests.Service;

/// <summary>
/// The real <c>edge run</c> process and its signals: SIGHUP during start-up does not end it, a reload with an error
/// leaves the running streams as they were, a good reload applies, SIGTERM drains and exits 0.
/// </summary>
public sealed class RunSignalTests : IDisposable
{
    private readonly string _work = TestData.NewTempFolder();

    private string WriteConfig(int port, params object[] streams)
    {
        var path = Path.Combine(_work, "edge.json");
        var json = JsonSerializer.Serialize(new
        {
            Models = new { Directory = Path.GetDirectoryName(TestData.FrameModel), FrameModel = Path.GetFileName(TestData.FrameModel), Provider = "Cpu", IntraOpThreads = 2 },
            Logging = new { File = "" },
            Sources = new { FileRoots = new[] { Path.GetDirectoryName(TestData.VtestShort)!, _work } },
            Web = new { Urls = $"http://127.0.0.1:{port}" },
            Service = new { DataDirectory = Path.Combine(_work, "data"), Streams = streams },
        });
        // Written beside and moved, as an editor saves: a reload never reads half a file.
        File.WriteAllText(path + ".tmp", json);
        File.Move(path + ".tmp", path, overwrite: true);
        return path;
    }

    [Fact]
    public async Task Run_SighupDuringStartUpAndBadReloads_StreamsKeepRunningAndGoodReloadApplies()
    {
        var port = FreePort();
        var a = new { Id = "a", Source = TestData.VtestShort, Loop = true, TargetFps = 5.0 };
        var config = WriteConfig(port, a);
        // Started with SIGHUP and SIGTERM blocked, as a launcher or a thread of a test host may pass them on: edge
        // unblocks them first, so neither is lost (before that, a reload asked for during start-up could vanish).
        using var process = StartWithSignalsBlocked("run", "--config", config);
        var log = new StringBuilder();
        var sent = 0;
        process.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                // The first SIGHUP goes at the first log line itself, not at the next poll: on a warm machine the rest
                // of start-up can be over within one poll's 100 ms, and then no SIGHUP would fall into it.
                if (log.Length == 0 && e.Data is not null && SendSignal(process.Id, SigHup) == 0)
                {
                    Interlocked.Increment(ref sent);
                }
                log.AppendLine(e.Data);
            }
        };
        process.BeginErrorReadLine();
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        string Log() { lock (log) { return log.ToString(); } }
        try
        {
            // From its first log line until it says it runs, the process gets a SIGHUP every 100 ms.
            await WaitUntil(() => Log().Length > 0 || process.HasExited, "the first log line");
            while (!Log().Contains("Edge is running", StringComparison.Ordinal) && !process.HasExited)
            {
                await Signal(process, "HUP");
                Interlocked.Increment(ref sent);
                await Task.Delay(100);
            }
            Assert.False(process.HasExited, $"edge ended by a SIGHUP during start-up (exit {(process.HasExited ? process.ExitCode : 0)}):\n{Log()}");
            Assert.True(sent > 0, "no SIGHUP was sent during start-up");
            await WaitUntil(() => Log().Contains("0 added, 0 restarted, 0 removed, 1 unchanged", StringComparison.Ordinal), "the reload after start-up",
                log: () => Log() + "\n" + SignalState(process.Id));
            Assert.Contains("SIGHUP during start-up: the configuration is read again now", Log(), StringComparison.Ordinal);
            Assert.Contains("Edge was started with SIGHUP, SIGTERM blocked", Log(), StringComparison.Ordinal);

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
            async Task<Dictionary<string, long>> Processed() =>
                JsonDocument.Parse(await http.GetStringAsync("/api/streams")).RootElement.EnumerateArray()
                    .ToDictionary(s => s.GetProperty("id").GetString()!, s => s.GetProperty("framesProcessed").GetInt64());
            await WaitUntil(() => Processed().GetAwaiter().GetResult().GetValueOrDefault("a") > 3, "stream a runs");

            // A config with an unknown key: refused, a runs on.
            File.WriteAllText(config, File.ReadAllText(config).Replace("\"Loop\"", "\"Lop\"", StringComparison.Ordinal));
            var before = (await Processed())["a"];
            await Signal(process, "HUP");
            await WaitUntil(() => Log().Contains("Config reload refused, the running streams are unchanged: unknown config key 'Service:Streams:0:Lop'", StringComparison.Ordinal), "the bad config refused");

            // A config that adds a stream whose file is not a video: refused as a whole, a runs on.
            var broken = Path.Combine(_work, "broken.avi");
            File.WriteAllBytes(broken, new byte[50_000]);
            WriteConfig(port, a, new { Id = "broken", Source = broken, Loop = false, TargetFps = 0.0 });
            await Signal(process, "HUP");
            await WaitUntil(() => Log().Contains("stream 'broken' cannot be set up", StringComparison.Ordinal), "the broken stream refused");
            Assert.Equal(["a"], (await Processed()).Keys);
            await WaitUntil(() => Processed().GetAwaiter().GetResult()["a"] > before + 3, "a runs on, not restarted");

            // A good config: b is added, a is untouched.
            WriteConfig(port, a, new { Id = "b", Source = TestData.VtestShort, Loop = true, TargetFps = 5.0 });
            await Signal(process, "HUP");
            await WaitUntil(() => Log().Contains("1 added, 0 restarted, 0 removed, 1 unchanged", StringComparison.Ordinal), "b added");
            await WaitUntil(() => Processed().GetAwaiter().GetResult().GetValueOrDefault("b") > 0, "b runs");
            Assert.True((await Processed())["a"] > before, "a kept its counters");

            await Signal(process, "TERM");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, Log());
            Assert.DoesNotContain("   at ", Log(), StringComparison.Ordinal);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
    }

    [Fact]
    public async Task Run_UnderNohupOrStoppedDuringStartUp_SaysWhatItMeansAndExitsZero()
    {
        var config = WriteConfig(FreePort(), new { Id = "a", Source = TestData.VtestShort, Loop = true, TargetFps = 5.0 });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        async Task<(int ExitCode, string Log)> Finish(Process process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync(timeout.Token);
            return (process.ExitCode, await stderr + await stdout);
        }

        // As nohup starts it: SIGHUP ignored, which edge leaves as it is and says so. Half a second of --for ends
        // while the models load: a normal stop, not a failure.
        using (var nohup = Start("signal.signal(signal.SIGHUP, signal.SIG_IGN)", "run", "--config", config, "--for", "0.5"))
        {
            var (code, log) = await Finish(nohup);
            Assert.True(code == 0, log);
            Assert.Contains("SIGHUP is ignored (Edge was started under nohup", log, StringComparison.Ordinal);
            Assert.Contains("Stopped during start-up", log, StringComparison.Ordinal);
            Assert.DoesNotContain("error:", log, StringComparison.Ordinal);
        }

        // SIGTERM at its first log line, while it starts: drained and exit 0, with SIGHUP handled as usual.
        using (var stopped = StartWithSignalsBlocked("run", "--config", config))
        {
            var first = await stopped.StandardError.ReadLineAsync(timeout.Token);
            await Signal(stopped, "TERM");
            var (code, log) = await Finish(stopped);
            Assert.True(code == 0, first + "\n" + log);
            Assert.Contains("Stopped during start-up", log, StringComparison.Ordinal);
            Assert.DoesNotContain("SIGHUP is ignored", first + log, StringComparison.Ordinal);
            Assert.DoesNotContain("error:", log, StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Starts edge (exec'd in place, so the process is edge's) with SIGHUP and SIGTERM in its signal mask and their
    /// default handling. The default is set, not inherited: a test run started under nohup passes SIGHUP on ignored,
    /// and edge leaves an ignored signal ignored (the operator's choice), so no reload would ever come.
    /// </summary>
    private Process StartWithSignalsBlocked(params string[] args) =>
        Start("[signal.signal(s, signal.SIG_DFL) for s in (signal.SIGHUP, signal.SIGTERM)]; signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP, signal.SIGTERM})", args);

    /// <summary>Starts edge exec'd in place after <paramref name="signals"/> (Python, with <c>signal</c> imported) set its signal state.</summary>
    private Process Start(string signals, params string[] args)
    {
        var info = new ProcessStartInfo("python3")
        {
            WorkingDirectory = _work,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add($"import os, signal, sys; {signals}; os.execvp(sys.argv[1], sys.argv[1:])");
        info.ArgumentList.Add("dotnet");
        info.ArgumentList.Add(EdgeProcess.EdgeDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }
        info.Environment["NO_COLOR"] = "1";
        return Process.Start(info) ?? throw new InvalidOperationException("could not start edge");
    }

    private const int SigHup = 1;

    /// <summary>kill(2) itself: no child process to start, so the signal leaves at once.</summary>
    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    private static async Task Signal(Process process, string signal)
    {
        using var kill = Process.Start("kill", [$"-{signal}", process.Id.ToString(CultureInfo.InvariantCulture)])!;
        await kill.WaitForExitAsync();
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Where the process's SIGHUPs are (pending, blocked, caught), from /proc, for a failure message: a reload that
    /// never comes is either a signal still pending behind a mask or one that was caught and lost.
    /// </summary>
    private static string SignalState(int pid)
    {
        try
        {
            static string Fields(string status) => string.Join(" ", File.ReadLines(status)
                .Where(l => l.StartsWith("Sig", StringComparison.Ordinal) || l.StartsWith("ShdPnd", StringComparison.Ordinal)).Select(l => l.Replace('\t', ' ')));
            var threads = Directory.GetDirectories($"/proc/{pid}/task")
                .Select(t => $"{Path.GetFileName(t)} {File.ReadAllText(Path.Combine(t, "comm")).Trim()}: {Fields(Path.Combine(t, "status"))}");
            return $"signal state of {pid}: {Fields($"/proc/{pid}/status")}\n" + string.Join('\n', threads);
        }
        catch (IOException ex)
        {
            return $"signal state of {pid} unavailable: {ex.Message}";
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what, int seconds = 120, Func<string>? log = null)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed.TotalSeconds < seconds, $"timed out waiting until {what}{(log is null ? "" : "; edge run's log:\n" + string.Join('\n', log().Split('\n').TakeLast(120)))}");
            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_work, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
