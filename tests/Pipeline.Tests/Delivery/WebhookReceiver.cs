using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Edge.Pipeline.Tests.Delivery;

/// <summary>
/// A real local HTTP server (HttpListener) that answers each POST with the status <see cref="Answer"/> picks and
/// records every request.
/// </summary>
public sealed class WebhookReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _serve;
    private readonly List<Request> _requests = [];

    public sealed record Request(string Id, string Label, string? IdempotencyKey, string? Authorization, string Query, JsonElement Body, int Status);

    /// <param name="answer">Status for the request with this (0-based) number and payload.</param>
    public WebhookReceiver(Func<int, JsonElement, (int Status, string? RetryAfter)> answer)
    {
        Answer = answer;
        Port = FreePort();
        _listener.Prefixes.Add($"http://127.0.0.1:{Port}/hook/");
        _listener.Start();
        _serve = ServeAsync();
    }

    public int Port { get; }

    public Func<int, JsonElement, (int Status, string? RetryAfter)> Answer { get; }

    public IReadOnlyList<Request> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        try
        {
            _serve.Wait(TimeSpan.FromSeconds(5));
        }
        catch (AggregateException)
        {
            // The listener was closed under a pending GetContextAsync: that is how serving ends.
        }
    }

    private async Task ServeAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }
            using var reader = new StreamReader(context.Request.InputStream);
            var body = JsonDocument.Parse(await reader.ReadToEndAsync()).RootElement.Clone();
            int number;
            lock (_requests)
            {
                number = _requests.Count;
            }
            var (status, retryAfter) = Answer(number, body);
            lock (_requests)
            {
                _requests.Add(new Request(body.GetProperty("id").GetString()!, body.GetProperty("label").GetString()!,
                    context.Request.Headers["Idempotency-Key"], context.Request.Headers["Authorization"], context.Request.Url!.Query, body, status));
            }
            context.Response.StatusCode = status;
            if (retryAfter is not null)
            {
                context.Response.AddHeader("Retry-After", retryAfter);
            }
            context.Response.Close();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
