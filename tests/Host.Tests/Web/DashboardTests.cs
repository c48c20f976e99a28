using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Edge.Tests;
using OpenCvSharp;

namespace Edge.Host.Tests.Web;

/// <summary>The dashboard rendered by a real headless Chromium (Debian's, never a downloaded one), live previews open.</summary>
public sealed class DashboardTests
{
    private const string Chromium = "/usr/bin/chromium";

    /// <summary>Appended to the DOM read back: the width of cam1's decoded preview image (0 until one arrives).</summary>
    private const string PreviewWidth = "<!--preview width ";

    private const string ReadBack =
        "document.documentElement.outerHTML + '" + PreviewWidth + "' + (document.querySelector('#stream-cam1 img.preview')?.naturalWidth ?? 0) + '-->'";

    [SkippableTheory]
    [InlineData("")]
    [InlineData("s3cret-token-0123456789")]
    public async Task Dashboard_InChromium_ShowsStreamsAndEvents(string token)
    {
        Skip.IfNot(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium package (scripts/setup.sh does)");
        await using var server = await WebServer.StartAsync(token);
        byte[] jpeg;
        using (var capture = new VideoCapture(TestData.VtestShort))
        using (var frame = new Mat())
        {
            Assert.True(capture.Read(frame));
            Cv2.ImEncode(".jpg", frame, out jpeg);
        }
        // Previews arrive as a live stream's would, every 200 ms.
        using var stopPublishing = new CancellationTokenSource();
        var publisher = Task.Run(async () =>
        {
            while (!stopPublishing.IsCancellationRequested)
            {
                server.Previews.Publish("cam1", jpeg);
                await Task.Delay(200);
            }
        });
        string dom;
        try
        {
            dom = await RenderAsync(new Uri(server.BaseAddress, token.Length > 0 ? "/?token=" + token : "/"),
                page => page.Contains("<tr id=\"event-a1\">", StringComparison.Ordinal) && page.Contains("<polyline", StringComparison.Ordinal)
                    && page.Contains(PreviewWidth + "768-->", StringComparison.Ordinal));
        }
        finally
        {
            await stopPublishing.CancelAsync();
            await publisher;
        }

        Assert.True(dom.Contains("<span class=\"stream-id\">cam1</span>", StringComparison.Ordinal), dom);
        Assert.Contains("<span class=\"stream-id\">cam2</span>", dom, StringComparison.Ordinal);
        Assert.Contains("<span class=\"state running\">running</span>", dom, StringComparison.Ordinal);
        Assert.Contains("<span class=\"state backoff\">backoff</span>", dom, StringComparison.Ordinal);
        Assert.Contains("<dd class=\"fps\">9.5</dd>", dom, StringComparison.Ordinal);
        Assert.Contains("<dd class=\"age\">42 / 180</dd>", dom, StringComparison.Ordinal);
        Assert.Contains("stream did not answer", dom, StringComparison.Ordinal);
        Assert.Contains("1 of 2 streams running", dom, StringComparison.Ordinal);
        Assert.Contains("<polyline points=\"", dom, StringComparison.Ordinal); // cam1's anomaly sparkline
        // Media URLs: with Web:ApiToken, signed ones (the page was opened with ?token=, the media never carry it); on
        // loopback without it, the plain paths (reads are open).
        var query = token.Length > 0 ? "?exp=" : "\"";
        Assert.Contains($"src=\"/api/streams/cam1/preview.mjpg{query}", dom, StringComparison.Ordinal);
        Assert.All(server.Stored.Keys, id => Assert.Contains($"<tr id=\"event-{id}\">", dom, StringComparison.Ordinal));
        Assert.Contains($"src=\"/api/events/a1/snapshot{query}", dom, StringComparison.Ordinal);
        Assert.Contains($"href=\"/api/events/a1/clip{query}", dom, StringComparison.Ordinal);
        if (token.Length > 0)
        {
            Assert.DoesNotContain(token, dom, StringComparison.Ordinal);
        }
        Assert.DoesNotContain("update failed", dom, StringComparison.Ordinal);
        Assert.Contains(PreviewWidth + "768-->", dom, StringComparison.Ordinal); // the browser decoded the MJPEG preview
    }

    /// <summary>
    /// Opens the page in headless Chromium and reads the rendered DOM over the DevTools protocol until
    /// <paramref name="ready"/> holds or 30 s pass. (Chromium's --dump-dom waits for the network to go idle, which an
    /// open MJPEG preview never does.)
    /// </summary>
    internal static async Task<string> RenderAsync(Uri url, Func<string, bool> ready)
    {
        var profile = TestData.NewTempFolder();
        var info = new ProcessStartInfo(Chromium,
            ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", $"--user-data-dir={profile}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", url.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var chromium = new Process { StartInfo = info };
        var dom = "";
        var endpoint = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        chromium.ErrorDataReceived += (_, e) =>
        {
            lock (log)
            {
                log.AppendLine(e.Data);
            }
            if (e.Data?.IndexOf("DevTools listening on ", StringComparison.Ordinal) is >= 0 and var at)
            {
                endpoint.TrySetResult(new Uri(e.Data[(at + "DevTools listening on ".Length)..].Trim()));
            }
        };
        chromium.OutputDataReceived += (_, _) => { };
        chromium.Start();
        chromium.BeginErrorReadLine();
        chromium.BeginOutputReadLine();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var browser = await endpoint.Task.WaitAsync(deadline.Token);
            using var http = new HttpClient();
            string? pageSocket = null;
            while (pageSocket is null)
            {
                var targets = JsonDocument.Parse(await http.GetStringAsync($"http://{browser.Authority}/json/list", deadline.Token)).RootElement;
                // By origin: the dashboard takes a ?token= out of its address once it has read it.
                pageSocket = targets.EnumerateArray()
                    .FirstOrDefault(t => t.GetProperty("type").GetString() == "page"
                        && t.GetProperty("url").GetString()!.StartsWith(url.GetLeftPart(UriPartial.Authority), StringComparison.Ordinal))
                    .TryGetProperty("webSocketDebuggerUrl", out var socketUrl) ? socketUrl.GetString() : null;
                await Task.Delay(100, deadline.Token);
            }
            using var socket = new ClientWebSocket();
            await socket.ConnectAsync(new Uri(pageSocket), deadline.Token);
            for (var id = 1; ; id++)
            {
                dom = await EvaluateAsync(socket, id, ReadBack, deadline.Token);
                if (ready(dom) || deadline.Token.IsCancellationRequested)
                {
                    return dom;
                }
                await Task.Delay(200, deadline.Token);
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested)
        {
            lock (log)
            {
                throw new TimeoutException($"the dashboard did not render within 30 s; chromium said: {log}\nlast DOM: {dom}");
            }
        }
        finally
        {
            chromium.Kill(entireProcessTree: true);
            await chromium.WaitForExitAsync();
            Directory.Delete(profile, recursive: true);
        }
    }

    private static async Task<string> EvaluateAsync(ClientWebSocket socket, int id, string expression, CancellationToken ct)
    {
        var request = JsonSerializer.SerializeToUtf8Bytes(new
        {
            id,
            method = "Runtime.evaluate",
            @params = new { expression, returnByValue = true },
        });
        await socket.SendAsync(request, WebSocketMessageType.Text, endOfMessage: true, ct);
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var message = new MemoryStream();
            WebSocketReceiveResult received;
            do
            {
                received = await socket.ReceiveAsync(buffer, ct);
                message.Write(buffer, 0, received.Count);
            }
            while (!received.EndOfMessage);
            var reply = JsonDocument.Parse(message.ToArray()).RootElement;
            if (reply.TryGetProperty("id", out var replyId) && replyId.GetInt32() == id)
            {
                // While the page is still loading the evaluation can fail or have no value yet: not ready.
                return reply.TryGetProperty("result", out var result) && result.TryGetProperty("result", out var value)
                    && value.TryGetProperty("value", out var text) ? text.GetString() ?? "" : "";
            }
        }
    }
}
