using System.Diagnostics;
using System.Globalization;
using System.Text;
using Edge.Capture;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;
using OpenCvSharp;
using Xunit.Abstractions;

namespace Edge.Capture.Tests;

/// <summary>
/// Network streams as an attacker would try them, against real servers: an RTSP camera that requires a password
/// (gst-rtsp-server), a closed port, an open port that speaks no video, an address nobody answers. The password must
/// not reach ffmpeg's command line or environment, a user must not learn which ports are open, and ffmpeg must read
/// only through the protocols of the stream's scheme.
/// </summary>
public sealed class StreamSecurityTests(ITestOutputHelper output)
{
    private const string User = "viewer";

    /// <summary>A quote and a dash unencoded in the URL: the script ffmpeg reads must quote them right.</summary>
    private const string Password = "it's-S3cret";

    private const string Secret = "S3cret";

    [Fact]
    public void Open_RtspWithCredentials_FramesFlowAndThePasswordIsInNoCommandLineNorEnvironmentOfFfmpeg()
    {
        using var server = new RtspServer(TestData.VtestShort, 10, User, Password);
        var url = $"rtsp://{User}:{Password}@127.0.0.1:{server.Port}/test";
        // The README suggests keeping a camera URL out of the config file in an EDGE_* variable: Edge has it in its
        // environment, and ffmpeg must not inherit it.
        const string Variable = "EDGE_Service__Streams__0__Source";
        Environment.SetEnvironmentVariable(Variable, url);
        try
        {
            using var source = (FfmpegStreamSource)FrameSources.Open(url, new CaptureOptions { MaxFrames = 10 });
            var pid = source.ProcessId;
            // The real child: ffmpeg itself, started by this process (no shell or wrapper in between).
            Assert.Equal("ffmpeg", File.ReadAllText($"/proc/{pid}/comm").Trim());
            Assert.Equal(Environment.ProcessId, ParentOf(pid));
            var commandLine = ReadProc(pid, "cmdline");
            var environment = ReadProc(pid, "environ");
            output.WriteLine($"ffmpeg {pid}: {commandLine.Replace('\0', ' ')}");
            Assert.Contains("-protocol_whitelist\0pipe\0", commandLine, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, commandLine, StringComparison.Ordinal);
            Assert.DoesNotContain("127.0.0.1", commandLine, StringComparison.Ordinal);
            Assert.DoesNotContain(Secret, environment, StringComparison.Ordinal);
            Assert.Contains("PATH=", environment, StringComparison.Ordinal);
            // Nor in any other stream's ffmpeg this process runs (ffmpeg that other tests start for their own set-up
            // inherit this process's environment, the variable above included: they are not Edge's streams).
            foreach (var child in FfmpegChildren().Where(c => TryReadProc(c, "cmdline").Contains("pipe:0", StringComparison.Ordinal)))
            {
                Assert.DoesNotContain(Secret, TryReadProc(child, "cmdline") + TryReadProc(child, "environ"), StringComparison.Ordinal);
            }
            Assert.Equal($"rtsp://***@127.0.0.1:{server.Port}/test", source.Info.Location);
            Assert.Equal((768, 576), (source.Info.Width, source.Info.Height));

            using var pool = new FramePool(2);
            var count = 0;
            while (source.Read(pool, CancellationToken.None) is { } frame)
            {
                using (frame)
                {
                    Assert.Equal(new Size(768, 576), frame.Image.Size());
                    Assert.True(Cv2.Mean(frame.Image).Val0 > 5, "decoded pixels should not be black");
                    count++;
                }
            }
            Assert.Equal(10, count);
            Assert.Equal(0, pool.Outstanding);
        }
        finally
        {
            Environment.SetEnvironmentVariable(Variable, null);
        }
    }

    [Theory]
    [InlineData("wrong-S3cret")]
    [InlineData(null)]
    public void Open_RtspWrongOrNoPassword_FailsWithTheCoarseErrorAndTheReasonInTheLog(string? password)
    {
        using var server = new RtspServer(TestData.VtestShort, 10, User, Password);
        var url = password is null ? server.Url : $"rtsp://{User}:{password}@127.0.0.1:{server.Port}/test";
        var logger = new ListLogger();
        var clock = Stopwatch.StartNew();
        var error = Assert.Throws<CaptureException>(() => FrameSources.Open(url, new CaptureOptions(), logger: logger));
        output.WriteLine($"{error.Message}\n{error.Detail}\nafter {clock.ElapsedMilliseconds} ms");
        Assert.Equal(CaptureError.Unreachable, error.Error);
        var shown = password is null ? url : $"rtsp://***@127.0.0.1:{server.Port}/test";
        Assert.Equal(FfmpegStreamSource.NoAnswer(shown), error.Message);
        Assert.Contains("401 Unauthorized", error.Detail, StringComparison.Ordinal);
        var said = string.Join("\n", logger.Entries.Select(e => e.Message));
        Assert.Contains("401 Unauthorized", said, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, error.Message + error.Detail + said, StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"failing took {clock.Elapsed}");
    }

    [Fact]
    public void Open_ClosedPortOpenGarbagePortAndSilentHost_OneMessageForAllAndTheReasonsOnlyInTheDetail()
    {
        using var garbage = new GarbageServer();
        var closed = RtspServer.FreePort();
        string[] urls =
        [
            $"rtsp://127.0.0.1:{closed}/live",
            $"rtsp://127.0.0.1:{garbage.Port}/live",
            $"http://127.0.0.1:{closed}/video.mjpg",
            $"http://127.0.0.1:{garbage.Port}/video.mjpg",
            // TEST-NET-1 (RFC 5737): never routed; it times out or is unreachable, depending on the machine.
            "rtsp://192.0.2.1:554/live",
        ];
        var messages = new List<string>();
        var details = new List<string>();
        foreach (var url in urls)
        {
            var clock = Stopwatch.StartNew();
            var error = Assert.Throws<CaptureException>(() => FrameSources.Open(url, new CaptureOptions { OpenTimeoutMs = 2000 }));
            output.WriteLine($"{url}: {clock.ElapsedMilliseconds} ms; {error.Message}; {error.Detail}");
            Assert.Equal(CaptureError.Unreachable, error.Error);
            messages.Add(error.Message.Replace(url, "URL", StringComparison.Ordinal));
            details.Add(error.Detail!);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"{url}: failing took {clock.Elapsed}");
        }
        Assert.True(garbage.Connections >= 2, "the garbage port was never reached");
        Assert.Equal([FfmpegStreamSource.NoAnswer("URL")], messages.Distinct());
        // The log still tells an operator what happened.
        Assert.Contains("Connection refused", details[0], StringComparison.Ordinal);
        Assert.Contains("Connection refused", details[2], StringComparison.Ordinal);
        Assert.DoesNotContain("Connection refused", details[1], StringComparison.Ordinal);
        Assert.DoesNotContain("Connection refused", details[3], StringComparison.Ordinal);
    }

    [Fact]
    public void OpenLive_CredentialsInUserInfoAndQuery_NeitherInInfoStatusNorLog()
    {
        var closed = RtspServer.FreePort();
        var url = $"rtsp://{User}:{Secret}@127.0.0.1:{closed}/test?user={User}&pwd={Secret}&token={Secret}";
        var shown = $"rtsp://***@127.0.0.1:{closed}/test?user=***&pwd=***&token=***";
        var logger = new ListLogger();
        using var source = FrameSources.OpenLive(url, new CaptureOptions(),
            new ReconnectOptions { InitialBackoffMs = 50, MaxBackoffMs = 200 }, streamId: "door", logger: logger);
        Assert.Equal(shown, source.Info.Location);
        using var pool = new FramePool(1);
        using (var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1.5)))
        {
            Assert.ThrowsAny<OperationCanceledException>(() => source.Read(pool, stop.Token));
        }
        var status = source.Status;
        Assert.True(status.Reconnects >= 1);
        Assert.Equal(FfmpegStreamSource.NoAnswer(shown), status.LastError);
        var said = string.Join("\n", logger.Entries.Select(e => e.Message));
        output.WriteLine(said);
        Assert.Contains("Connection refused", said, StringComparison.Ordinal);
        Assert.DoesNotContain(Secret, said + status.LastError + source.Info.Location, StringComparison.Ordinal);
        Assert.Equal(0, pool.Outstanding);
    }

    [Fact]
    public void Start_ProtocolOutsideTheSchemesWhitelist_IsRefusedByFfmpegItself()
    {
        // Past the policy (which refuses file: long before), ffmpeg's whitelist is the second wall: an rtsp or
        // http stream's redirect, playlist or manifest naming file: is refused the same way.
        var local = "file:" + TestData.VtestShort;
        var error = Assert.Throws<CaptureException>(() => FfmpegStreamSource.Start(local, "local", "rtsp",
            SourcePolicy.ProtocolWhitelist("rtsp"), "local", new CaptureOptions(), NullLogger.Instance, CancellationToken.None));
        output.WriteLine(error.Detail);
        Assert.Equal(CaptureError.Unreachable, error.Error);
        Assert.Contains("Protocol 'file' not on whitelist 'rtsp,rtp,udp,tcp'", error.Detail, StringComparison.Ordinal);
        Assert.Throws<CaptureException>(() => FfmpegStreamSource.Start(local, "local", "http",
            SourcePolicy.ProtocolWhitelist("http"), "local", new CaptureOptions(), NullLogger.Instance, CancellationToken.None));

        // The same call with file: on the whitelist decodes the file: the whitelist, nothing else, refused it above.
        using var allowed = FfmpegStreamSource.Start(local, "local", "file", "file", "local",
            new CaptureOptions { MaxFrames = 1 }, NullLogger.Instance, CancellationToken.None);
        using var pool = new FramePool(1);
        using var frame = allowed.Read(pool, CancellationToken.None);
        Assert.NotNull(frame);
        Assert.Equal(new Size(768, 576), frame.Image.Size());
    }

    [Fact]
    public void Script_UrlWithAQuote_IsOneQuotedEntryWithTheInputsOptions()
    {
        var rtsp = FfmpegStreamSource.Script("rtsp://viewer:it's@cam/live", "rtsp", "rtsp,rtp,udp,tcp", new CaptureOptions { ReadTimeoutMs = 3000 });
        Assert.Equal("ffconcat version 1.0\nfile 'rtsp://viewer:it'\\''s@cam/live'\noption protocol_whitelist rtsp,rtp,udp,tcp\n"
            + "option rtsp_transport tcp\noption timeout 3000000\noption analyzeduration 1000000\n", rtsp);
        var http = FfmpegStreamSource.Script("http://cam/v.mjpg", "http", "http,https,tcp,tls", new CaptureOptions { ReadTimeoutMs = 2000 });
        Assert.Equal("ffconcat version 1.0\nfile 'http://cam/v.mjpg'\noption protocol_whitelist http,https,tcp,tls\noption rw_timeout 2000000\n", http);
        // A line break would end the entry and let the rest of the URL add directives.
        Assert.Equal(CaptureError.Refused, Assert.Throws<CaptureException>(() =>
            FfmpegStreamSource.Script("rtsp://cam/live\nfile '/etc/passwd'", "rtsp", "rtsp", new CaptureOptions())).Error);
    }

    private static string ReadProc(int pid, string entry) => Encoding.UTF8.GetString(File.ReadAllBytes($"/proc/{pid}/{entry}"));

    /// <summary>The entry, or "" when the process ended meanwhile (other tests' ffmpeg servers come and go).</summary>
    private static string TryReadProc(int pid, string entry)
    {
        try
        {
            return ReadProc(pid, entry);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "";
        }
    }

    private static int ParentOf(int pid) =>
        int.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("PPid:", StringComparison.Ordinal))[5..].Trim(),
            CultureInfo.InvariantCulture);

    /// <summary>Every ffmpeg whose parent is this test process.</summary>
    private static IEnumerable<int> FfmpegChildren()
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid))
            {
                continue;
            }
            bool ours;
            try
            {
                ours = File.ReadAllText(Path.Combine(dir, "comm")).Trim() == "ffmpeg" && ParentOf(pid) == Environment.ProcessId;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue; // it ended meanwhile
            }
            if (ours)
            {
                yield return pid;
            }
        }
    }
}
