using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Edge.Host.Web;

namespace Edge.Host.Tests.Web;

/// <summary>
/// The web layer as an attacker meets it on the shipped default (loopback, no Web:ApiToken: a generated token), over
/// real HTTP against real Kestrel: other sites, other host names, tokens in URLs, model paths, signed media URLs.
/// </summary>
public sealed class WebSecurityTests : IAsyncLifetime
{
    private const string Configured = "s3cret-token-0123456789";
    private const string Definition = """{"id": "gate", "source": "rtsp://10.0.0.3/live"}""";
    private WebServer _server = null!;

    public async Task InitializeAsync() => _server = await WebServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    /// <summary>A client with no token, as a page of another site or a process of another user has none.</summary>
    private HttpClient Anonymous() => new() { BaseAddress = _server.BaseAddress, Timeout = TimeSpan.FromSeconds(20) };

    private static async Task<string> ErrorAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString()!;

    [Fact]
    public async Task AddStream_CrossSiteTextPlainPost_415AndNothingAdded()
    {
        // What a form or fetch(..., {mode: 'no-cors'}) of any web page can send without a CORS preflight.
        using var anonymous = Anonymous();
        using var plain = await anonymous.PostAsync("/api/streams", new StringContent(Definition, Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, plain.StatusCode);
        Assert.Contains("application/json", await ErrorAsync(plain), StringComparison.Ordinal);
        using var form = await _server.Client.PostAsync("/api/streams", new FormUrlEncodedContent([new("id", "gate"), new("source", "0")]));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode); // the token does not make a form acceptable
        using var none = new HttpRequestMessage(HttpMethod.Post, "/api/streams") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes(Definition)) };
        using var untyped = await _server.Client.SendAsync(none);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, untyped.StatusCode);
        Assert.Empty(_server.Registry.Added);
    }

    [Fact]
    public async Task Relearn_NeedsTheTokenAndSaysWhatHappened()
    {
        using var anonymous = Anonymous();
        using var json = new StringContent("{}", Encoding.UTF8, "application/json");
        using (var refused = await anonymous.PostAsync("/api/streams/cam1/learn", json))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        Assert.Empty(_server.Registry.Relearned);

        using (var started = await _server.Client.PostAsync("/api/streams/cam1/learn", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
            Assert.Equal("cam1", (await started.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString());
        }
        Assert.Equal(["cam1"], _server.Registry.Relearned);
        using (var missing = await _server.Client.PostAsync("/api/streams/nope/learn", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }
        _server.Registry.RelearnAnswer = Edge.Host.Service.RelearnOutcome.DoesNotLearn;
        using (var configured = await _server.Client.PostAsync("/api/streams/cam1/learn", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Conflict, configured.StatusCode);
            Assert.Contains("does not learn", await ErrorAsync(configured), StringComparison.Ordinal);
        }
        _server.Registry.RelearnAnswer = Edge.Host.Service.RelearnOutcome.Busy;
        using (var busy = await _server.Client.PostAsync("/api/streams/cam1/learn", new StringContent("{}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Conflict, busy.StatusCode);
            Assert.Contains("fitting", await ErrorAsync(busy), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("GET", "/api/streams")]
    [InlineData("GET", "/metrics")]
    [InlineData("POST", "/api/streams")]
    public async Task Request_ForeignHostHeader_400(string method, string path)
    {
        // DNS rebinding: attacker.example resolves to 127.0.0.1, so the browser sends its name as the Host.
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Host = "attacker.example:" + _server.BaseAddress.Port;
        if (method == "POST")
        {
            request.Content = new StringContent(Definition, Encoding.UTF8, "application/json");
        }
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("does not name this server", await ErrorAsync(response), StringComparison.Ordinal);
        Assert.Empty(_server.Registry.Added);
    }

    [Theory]
    [InlineData("localhost")]
    [InlineData("127.0.0.1")]
    public async Task Request_LocalHostHeader_Served(string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/streams");
        request.Headers.Host = $"{host}:{_server.BaseAddress.Port}";
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Request_AllowedHostsName_Served()
    {
        await using var server = await WebServer.StartAsync(configure: o => o.AllowedHosts = "edge-box.local");
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/streams");
        request.Headers.Host = "edge-box.local:" + server.BaseAddress.Port;
        using var response = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("POST", "http://attacker.example")]
    [InlineData("POST", "null")]
    [InlineData("DELETE", "http://attacker.example")]
    [InlineData("GET", "http://attacker.example")]
    [InlineData("POST", "http://127.0.0.1:1")] // same host, another port: another origin
    public async Task Request_OriginOfAnotherSite_403(string method, string origin)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), method == "DELETE" ? "/api/streams/cam1" : "/api/streams");
        request.Headers.Add("Origin", origin);
        if (method == "POST")
        {
            request.Content = new StringContent(Definition, Encoding.UTF8, "application/json");
        }
        using var response = await _server.Client.SendAsync(request); // with the token: the origin alone is refused
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Empty(_server.Registry.Added);
        Assert.NotNull(_server.Registry.Find("cam1"));
    }

    [Fact]
    public async Task Request_SameOrigin_Served()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/streams")
        {
            Content = new StringContent(Definition, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Origin", _server.BaseAddress.GetLeftPart(UriPartial.Authority));
        request.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Theory]
    [InlineData("cross-site")]
    [InlineData("same-site")]
    public async Task Media_EmbeddedByAnotherSite_403(string site)
    {
        // An <img> of another page sends no Origin, but the browser says where it comes from.
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/events/a1/snapshot");
        request.Headers.Add("Sec-Fetch-Site", site);
        using var response = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Theory]
    [InlineData("")]
    [InlineData(Configured)]
    public async Task Change_TokenOnlyInQuery_401AndNothingChanged(string apiToken)
    {
        await using var server = await WebServer.StartAsync(apiToken);
        using var anonymous = new HttpClient { BaseAddress = server.BaseAddress };
        var query = "?token=" + Uri.EscapeDataString(server.Token.Value);
        using var post = await anonymous.PostAsync("/api/streams" + query, new StringContent(Definition, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        Assert.Contains("Authorization: Bearer", await ErrorAsync(post), StringComparison.Ordinal);
        using var delete = await anonymous.DeleteAsync("/api/streams/cam1" + query);
        Assert.Equal(HttpStatusCode.Unauthorized, delete.StatusCode);
        Assert.Empty(server.Registry.Added);
        Assert.NotNull(server.Registry.Find("cam1"));

        using var request = new HttpRequestMessage(HttpMethod.Delete, "/api/streams/cam1");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token.Value);
        using var deleted = await anonymous.SendAsync(request);
        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
    }

    [Fact]
    public async Task Loopback_GeneratedToken_ChangesNeedItReadsDoNot()
    {
        Assert.False(_server.Token.Configured);
        Assert.True(_server.Token.Value.Length >= WebOptions.MinTokenLength);
        using var anonymous = Anonymous();
        using var post = await anonymous.PostAsync("/api/streams", new StringContent(Definition, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Unauthorized, post.StatusCode);
        Assert.Equal("Bearer", post.Headers.WwwAuthenticate.Single().Scheme);
        using var delete = await anonymous.DeleteAsync("/api/streams/cam1");
        Assert.Equal(HttpStatusCode.Unauthorized, delete.StatusCode);
        Assert.NotNull(_server.Registry.Find("cam1"));
        using var read = await anonymous.GetAsync("/api/streams");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
    }

    [Fact]
    public async Task MediaUrl_Signed_ServedUntilItExpiresTamperedRefused()
    {
        await using var server = await WebServer.StartAsync(Configured, configure: o => o.MediaUrlSeconds = 2);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/media-urls?path=/api/events/a1/snapshot&path=/api/events/b1/snapshot");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Configured);
        using var signing = await server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, signing.StatusCode);
        var signed = (await signing.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("urls").EnumerateArray().Select(u => u.GetString()!).ToList();
        Assert.All(signed, url => Assert.DoesNotContain(Configured, url, StringComparison.Ordinal));
        var a1 = signed[0];
        Assert.StartsWith("/api/events/a1/snapshot?exp=", a1, StringComparison.Ordinal);

        // No token on these requests: the signature alone opens the file, and only that file until its expiry.
        using var ok = await server.Client.GetAsync(a1);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(await File.ReadAllBytesAsync(Path.Combine(server.Folder, "event-a1.jpg")), await ok.Content.ReadAsByteArrayAsync());
        var query = a1[a1.IndexOf('?', StringComparison.Ordinal)..];
        var sig = query[(query.IndexOf("sig=", StringComparison.Ordinal) + 4)..];
        var exp = long.Parse(query[5..query.IndexOf('&', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture);
        string[] tampered =
        [
            "/api/events/b1/snapshot" + query,                                        // another file with a1's signature
            "/api/events/a1/clip" + query,                                            // another kind of file
            a1.Replace("exp=" + exp, "exp=" + (exp + 3600), StringComparison.Ordinal), // a later expiry
            a1[..^2] + (sig.EndsWith("AA", StringComparison.Ordinal) ? "BB" : "AA"),  // another signature
            "/api/events/a1/snapshot",                                                // none at all
        ];
        foreach (var url in tampered)
        {
            using var refused = await server.Client.GetAsync(url);
            Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, $"{url}: {(int)refused.StatusCode}");
        }
        using (var b1 = await server.Client.GetAsync(signed[1]))
        {
            Assert.Equal(HttpStatusCode.OK, b1.StatusCode);
        }
        using (var json = await server.Client.GetAsync("/api/streams" + query))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, json.StatusCode); // a signature opens media, never the API
        }

        while (DateTimeOffset.UtcNow.ToUnixTimeSeconds() < exp)
        {
            await Task.Delay(100);
        }
        using var expired = await server.Client.GetAsync(a1);
        Assert.Equal(HttpStatusCode.Unauthorized, expired.StatusCode);
        Assert.Contains("expired", await ErrorAsync(expired), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/api/streams")]
    [InlineData("/metrics")]
    [InlineData("../events.db")]
    public async Task MediaUrls_NotAMediaPath_400(string path)
    {
        using var response = await _server.Client.GetAsync("/api/media-urls?path=" + Uri.EscapeDataString(path));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("is not a media path", await ErrorAsync(response), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddStream_ModelOutsideTheModelsFolder_400SameMessageWhetherItExists()
    {
        var outside = Path.Combine(_server.Folder, "outside.onnx");
        await File.WriteAllTextAsync(outside, "not a model");
        File.CreateSymbolicLink(Path.Combine(_server.ModelsFolder, "link.onnx"), outside);
        string[] paths =
        [
            outside,                                           // exists, absolute
            Path.Combine(_server.Folder, "missing.onnx"),      // does not exist, absolute
            "/etc/passwd",
            "../outside.onnx",                                 // exists, relative
            "../missing.onnx",
            "sub/../../outside.onnx",
            "link.onnx",                                       // inside, but a link to a file outside
        ];
        var messages = new HashSet<string>();
        foreach (var path in paths)
        {
            foreach (var field in new[] { "anomalyModel", "activityModel" })
            {
                var body = JsonSerializer.Serialize(new Dictionary<string, object> { ["id"] = "m", ["source"] = "0", [field] = path });
                using var response = await _server.Client.PostAsync("/api/streams", new StringContent(body, Encoding.UTF8, "application/json"));
                Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
                var error = await ErrorAsync(response);
                Assert.DoesNotContain(_server.Folder, error, StringComparison.Ordinal);
                messages.Add(error.Replace(field, "FIELD", StringComparison.Ordinal));
            }
        }
        Assert.Equal("'FIELD' must name a model file inside the models directory, as a relative path without '..' (such as \"vtest-anomaly.onnx\")",
            Assert.Single(messages));
        Assert.Empty(_server.Registry.Added);
    }

    [Fact]
    public async Task AddStream_ModelInsideTheModelsFolder_PassedOnAsItsFullPath()
    {
        await File.WriteAllTextAsync(Path.Combine(_server.ModelsFolder, "a.onnx"), "stand-in");
        using var response = await _server.Client.PostAsync("/api/streams",
            new StringContent("""{"id": "m", "source": "0", "anomalyModel": "a.onnx"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(Path.Combine(_server.ModelsFolder, "a.onnx"), Assert.Single(_server.Registry.Added).AnomalyModel);
        using var missing = await _server.Client.PostAsync("/api/streams",
            new StringContent("""{"id": "n", "source": "0", "activityModel": "nope.onnx"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        Assert.Equal("'activityModel': there is no model 'nope.onnx' in the models directory", await ErrorAsync(missing));
    }
}
