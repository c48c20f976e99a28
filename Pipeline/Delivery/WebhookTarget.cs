using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Edge.Pipeline.Delivery;

/// <summary>
/// POSTs each message as JSON, with the event id in an <c>Idempotency-Key</c> header. 2xx is delivered; network
/// errors, timeouts, 408, 429 and 5xx are retried; any other answer (a 4xx, a redirect) is a permanent refusal.
/// Owns its HttpClient.
/// </summary>
internal sealed class WebhookTarget : IDeliveryTarget
{
    private readonly HttpClient _http;
    private readonly Uri _url;
    private readonly int _timeoutMs;

    public WebhookTarget(WebhookDeliveryOptions options)
    {
        _url = new Uri(options.Url);
        _timeoutMs = options.TimeoutMs;
        // Redirects are not followed: a POST turned into a GET would count as delivered without reaching the receiver.
        _http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromMilliseconds(options.TimeoutMs),
        };
        if (_url.UserInfo.Length > 0)
        {
            var credentials = Uri.UnescapeDataString(_url.UserInfo);
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(credentials)));
        }
        // Logs name the URL without user info or query, where tokens live.
        Endpoint = _url.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
    }

    public string Target => DeliveryTargets.Webhook;

    public string Endpoint { get; }

    public async Task<SendOutcome> SendAsync(OutboxMessage message, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _url)
        {
            Content = new StringContent(message.Payload, Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", message.EventId);
        try
        {
            using var response = await _http.SendAsync(request, ct).ConfigureAwait(false);
            var code = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                return SendOutcome.Delivered;
            }
            var reason = $"HTTP {code} {response.ReasonPhrase}";
            return response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests || code >= 500
                ? SendOutcome.Retry(reason, RetryAfter(response))
                : SendOutcome.Rejected(reason);
        }
        catch (HttpRequestException ex)
        {
            return SendOutcome.Retry(ex.Message);
        }
        catch (TaskCanceledException) when (!ct.IsCancellationRequested)
        {
            return SendOutcome.Retry($"no answer within {_timeoutMs} ms");
        }
    }

    private static TimeSpan? RetryAfter(HttpResponseMessage response) => response.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow,
        _ => null,
    };

    public ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
