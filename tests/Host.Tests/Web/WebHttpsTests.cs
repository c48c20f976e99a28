using System.Net.Http;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Edge.Host.Service;
using Edge.Host.Web;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Edge.Tests;
using Microsoft.Extensions.Logging.Abstractions;

namespace Edge.Host.Tests.Web;

/// <summary>
/// The web server over HTTPS: real Kestrel with a certificate an openssl-made test CA signed, requests from an
/// HttpClient that trusts only that CA; /healthz reports a faulted stream as degraded.
/// </summary>
public sealed class WebHttpsTests : IDisposable
{
    private readonly TestCertificates _certificates = TestCertificates.Create();
    private readonly string _folder = TestData.NewTempFolder();

    [Fact]
    public async Task Https_ConfiguredCertificate_ServesTheApiAndHealthOverTls()
    {
        var registry = new CannedStreamRegistry();
        registry.Set(CannedStreamRegistry.Running("cam1", "rtsp://***@camera-1/stream"));
        registry.Set(CannedStreamRegistry.Running("cam2", "rtsp://***@camera-2/stream") with { State = StreamState.Faulted, LastError = "disk full", Faults = 3 });
        var options = new WebOptions
        {
            Urls = "https://127.0.0.1:0",
            CertificateFile = _certificates.ServerCertificate,
            CertificateKeyFile = _certificates.ServerKey,
        };
        Assert.True(new WebOptionsValidator().Validate(null, options).Succeeded);
        using var store = new SqliteEventStore(Path.Combine(_folder, SqliteEventStore.FileName));
        var token = WebToken.Resolve(options, _folder, out _);
        using var exporter = new EdgeMetrics();
        await using var app = EdgeWeb.Build(options, token, Directory.CreateDirectory(Path.Combine(_folder, "models")).FullName, registry, store, _folder,
            exporter, new PreviewHub(), NullLoggerFactory.Instance);
        await app.StartAsync();
        var url = new Uri(app.Urls.Single());
        Assert.Equal("https", url.Scheme);

        using var trusting = Client(_certificates.CaFile, out var seen);
        var streams = JsonDocument.Parse(await trusting.GetStringAsync(new Uri(url, "/api/streams"))).RootElement;
        Assert.Equal(["cam1", "cam2"], streams.EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal("faulted", streams[1].GetProperty("state").GetString());
        Assert.Equal(3, streams[1].GetProperty("faults").GetInt64());
        using var health = await trusting.GetAsync(new Uri(url, "/healthz"));
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, health.StatusCode);
        Assert.Equal("degraded: 1 of 2 stream(s) faulted (cam2: disk full)", await health.Content.ReadAsStringAsync());
        Assert.NotEmpty(seen);
        Assert.All(seen, subject => Assert.Equal("CN=127.0.0.1", subject));
        var metrics = await trusting.GetStringAsync(new Uri(url, "/metrics"));
        Assert.Contains("edge_stream_state{stream=\"cam2\",state=\"faulted\"} 1", metrics, StringComparison.Ordinal);
        Assert.Contains("edge_stream_faults_total{stream=\"cam2\"} 3", metrics, StringComparison.Ordinal);

        // A client that trusts another CA refuses the server; plain HTTP on the HTTPS port gets no answer.
        using var other = TestCertificates.Create();
        using var untrusting = Client(other.CaFile, out _);
        await Assert.ThrowsAsync<HttpRequestException>(() => untrusting.GetStringAsync(new Uri(url, "/healthz")));
        using var plain = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        await Assert.ThrowsAnyAsync<Exception>(() => plain.GetStringAsync(new UriBuilder(url) { Scheme = "http" }.Uri));
        await app.StopAsync();
    }

    /// <summary>An HttpClient that trusts only the certificates of <paramref name="caFile"/> and notes the servers' subjects.</summary>
    private static HttpClient Client(string caFile, out List<string> subjects)
    {
        var trusted = new X509Certificate2Collection();
        trusted.ImportFromPemFile(caFile);
        var seen = new List<string>();
        subjects = seen;
        var handler = new SocketsHttpHandler();
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
        {
            if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
            {
                return false;
            }
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            using var server = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
            lock (seen)
            {
                seen.Add(server.Subject);
            }
            return chain.Build(server);
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
    }

    public void Dispose()
    {
        _certificates.Dispose();
        Directory.Delete(_folder, recursive: true);
    }
}
