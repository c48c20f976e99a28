using System.Net;
using System.Net.Http.Headers;
using Edge.Tests;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Tests.Web;

/// <summary>With Web:ApiToken set, everything but /healthz needs the token, as a Bearer header or a ?token= query.</summary>
public sealed class WebTokenTests : IAsyncLifetime
{
    private const string Token = "s3cret-token-0123456789";
    private WebServer _server = null!;

    public async Task InitializeAsync() => _server = await WebServer.StartAsync(Token);

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("/api/streams")]
    [InlineData("/api/events")]
    [InlineData("/api/events/a1/snapshot")]
    [InlineData("/api/streams/cam1/preview.mjpg")]
    [InlineData("/metrics")]
    [InlineData("/")]
    public async Task Request_WithoutOrWithWrongToken_401(string path)
    {
        using var none = await _server.Client.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        using var wrong = new HttpRequestMessage(HttpMethod.Get, path);
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token + "x");
        using var answer = await _server.Client.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, answer.StatusCode);
        using var wrongQuery = await _server.Client.GetAsync(path + "?token=nope");
        Assert.Equal(HttpStatusCode.Unauthorized, wrongQuery.StatusCode);
    }

    [Fact]
    public async Task Request_WithBearerOrQueryToken_Served()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/streams");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var bearer = await _server.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, bearer.StatusCode);
        using var query = await _server.Client.GetAsync("/api/events/a1/snapshot?token=" + Token);
        Assert.Equal(HttpStatusCode.OK, query.StatusCode);
        Assert.Equal("image/jpeg", query.Content.Headers.ContentType?.MediaType);
        var page = await _server.Client.GetStringAsync("/api/events?limit=1&token=" + Token);
        Assert.DoesNotContain(Token, page, StringComparison.Ordinal); // next links leave the token out
        Assert.Contains("\"nextUrl\":\"/api/events?limit=1&cursor=", page, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_WithQueryToken_TokenNeverLogged()
    {
        var log = new ListLogger();
        using var factory = LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new ListLoggerProvider(log)));
        await using var server = await WebServer.StartAsync(Token, loggerFactory: factory);
        using var ok = await server.Client.GetAsync("/api/streams?token=" + Token);
        using var wrong = await server.Client.GetAsync("/api/streams?token=" + Token[..^1]);
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.Unauthorized), (ok.StatusCode, wrong.StatusCode));
        lock (log.Entries)
        {
            Assert.NotEmpty(log.Entries); // the app does log (routing, Kestrel), just not request URLs
            Assert.DoesNotContain(log.Entries, e => e.Message.Contains(Token[..^1], StringComparison.Ordinal));
        }
    }

    private sealed class ListLoggerProvider(ListLogger logger) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => logger;

        public void Dispose()
        {
        }
    }

    [Fact]
    public async Task Healthz_WithoutToken_Open()
    {
        Assert.Equal("ok", await _server.Client.GetStringAsync("/healthz"));
    }
}
