using System.Globalization;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Edge.Host.Service;
using Edge.Pipeline.Events;
using Edge.Pipeline.Outputs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Edge.Host.Web;

/// <summary>
/// The web layer of the live service on Kestrel: dashboard (/), REST API (/api), /metrics, /healthz and MJPEG
/// previews. <see cref="Build"/> returns the app unstarted; its owner calls StartAsync and StopAsync (and disposes
/// it), and keeps every dependency alive until then: the app reads them, it owns none.
/// </summary>
/// <remarks>
/// Safe by default (README "Security"), checked in this order before any endpoint runs: the Host header must name this
/// server and an Origin header this very origin (DNS rebinding, cross-site pages); a change (POST, PUT, PATCH, DELETE)
/// must send JSON when it sends a body (415: a cross-site form or text/plain post cannot), then the token as
/// <c>Authorization: Bearer</c> (401; never from the URL). Reads need the token only when <c>Web:ApiToken</c> is
/// configured, as a header, <c>?token=</c>, or for media a signed URL from <c>/api/media-urls</c>.
/// </remarks>
public static partial class EdgeWeb
{
    public const int MaxPageSize = 500;
    public const int DefaultPageSize = 50;

    /// <summary>Most media paths one /api/media-urls call signs.</summary>
    public const int MaxSignedPaths = 100;

    private const string Boundary = "edgeframe";

    private static readonly byte[] s_partStart = Encoding.ASCII.GetBytes($"--{Boundary}\r\n");
    private static readonly byte[] s_partEnd = Encoding.ASCII.GetBytes($"\r\n--{Boundary}\r\n");

    /// <summary>Paths served without the token: the health probe, and the dashboard's script and style, which hold no data.</summary>
    private static readonly HashSet<string> s_open = new(StringComparer.Ordinal) { "/healthz", "/app.js", "/app.css" };

    private static readonly JsonSerializerOptions s_definitionJson = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    };

    /// <param name="token">The API token (configured or generated: <see cref="WebToken.Resolve"/>).</param>
    /// <param name="modelsDirectory">The only folder per-stream models given through the API may come from.</param>
    /// <param name="events">The event store the service writes; read here for the events API.</param>
    /// <param name="eventsFolder">Folder holding the events' snapshot and clip files (beside the store).</param>
    public static WebApplication Build(WebOptions options, WebToken token, string modelsDirectory, IStreamRegistry registry,
        SqliteEventStore events, string eventsFolder, EdgeMetrics metrics, PreviewHub previews, ILoggerFactory loggerFactory)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.WebHost.UseKestrelCore().UseUrls(options.UrlList);
        var certificate = options.UsesHttps ? options.LoadCertificate() : null;
        if (certificate is not null)
        {
            builder.WebHost.UseKestrelHttpsConfiguration();
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ConfigureHttpsDefaults(https => https.ServerCertificate = certificate));
        }
        builder.Services.AddRoutingCore();
        builder.Services.AddSingleton<ILoggerFactory>(new QuietRequestLogs(loggerFactory));
        builder.Services.AddSingleton(typeof(ILogger<>), typeof(Logger<>));
        builder.Services.ConfigureHttpJsonOptions(json =>
            json.SerializerOptions.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.CamelCase)));
        var app = builder.Build();
        if (certificate is not null)
        {
            app.Lifetime.ApplicationStopped.Register(certificate.Dispose);
        }

        var guard = new WebGuard(options, token);
        app.Use((context, next) => Guard(context, next, guard));

        MapDashboard(app);
        app.MapGet("/healthz", () => Health(registry));
        metrics.StreamSource = () => registry.Streams;
        app.MapGet("/metrics", () => Results.Text(metrics.Render(), EdgeMetrics.ContentType));
        app.MapGet("/api/media-urls", (HttpRequest request) => SignMedia(request, guard));
        MapStreams(app, registry, previews, modelsDirectory);
        MapEvents(app, events, eventsFolder);
        return app;
    }

    /// <summary>The checks of every request, in the order of the class remarks; the first that fails answers.</summary>
    private static Task Guard(HttpContext context, RequestDelegate next, WebGuard guard)
    {
        var request = context.Request;
        var path = request.Path.Value ?? "";
        if (!guard.IsAllowedHost(request.Host))
        {
            return Refuse(context, StatusCodes.Status400BadRequest,
                $"the Host header '{request.Host.Value}' does not name this server; add the name to Web:AllowedHosts if it should");
        }
        if (request.Headers.Origin.ToString() is { Length: > 0 } origin && !WebGuard.IsSameOrigin(origin, request.Host))
        {
            return Refuse(context, StatusCodes.Status403Forbidden, "requests from pages of another origin are refused");
        }
        if ((path.StartsWith("/api/", StringComparison.Ordinal) || path == "/metrics") && WebGuard.IsCrossSite(request))
        {
            return Refuse(context, StatusCodes.Status403Forbidden, "requests from pages of another site are refused");
        }
        if (!(HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)))
        {
            // A body in any other type could come from a cross-site form or a text/plain fetch, which need no CORS
            // preflight; a body-less DELETE is never a "simple" cross-site request, so it needs no Content-Type.
            var hasBody = request.ContentLength > 0 || request.Headers.TransferEncoding.Count > 0 || !HttpMethods.IsDelete(request.Method);
            if ((hasBody || request.ContentType is not null) && !WebGuard.IsJson(request))
            {
                return Refuse(context, StatusCodes.Status415UnsupportedMediaType, "changes take a JSON body: send 'Content-Type: application/json'");
            }
            if (!guard.HasBearer(request))
            {
                return Unauthorized(context, "changes need the API token as 'Authorization: Bearer <token>' (never in the URL); "
                    + (guard.ReadsNeedToken ? "it is Web:ApiToken" : $"it was generated at first start into the service's data directory ({WebToken.FileName})"));
            }
        }
        else if (guard.ReadsNeedToken && !s_open.Contains(path) && !guard.HasBearer(request) && !guard.HasQueryToken(request)
            && !guard.HasValidSignature(request))
        {
            return Unauthorized(context, WebGuard.IsMediaPath(path) && request.Query.ContainsKey("sig")
                ? "this media URL has expired or is not signed by this server: ask /api/media-urls for a new one"
                : "missing or wrong API token: send 'Authorization: Bearer <Web:ApiToken>'");
        }
        return next(context);
    }

    private static Task Refuse(HttpContext context, int status, string error)
    {
        context.Response.StatusCode = status;
        return context.Response.WriteAsJsonAsync(new ApiError(error));
    }

    private static Task Unauthorized(HttpContext context, string error)
    {
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return Refuse(context, StatusCodes.Status401Unauthorized, error);
    }

    /// <summary>
    /// Signed URLs for media paths (<c>?path=/api/events/x/snapshot&amp;path=...</c>), in the order asked, valid for
    /// <c>Web:MediaUrlSeconds</c>: the dashboard's <c>&lt;img&gt;</c> and links load them without the token.
    /// </summary>
    private static IResult SignMedia(HttpRequest request, WebGuard guard)
    {
        var paths = request.Query["path"].Select(p => p ?? "").ToList();
        if (paths.Count is 0 or > MaxSignedPaths)
        {
            return Results.BadRequest(new ApiError($"give 1 to {MaxSignedPaths} media paths as ?path=/api/events/ID/snapshot&path=..."));
        }
        if (paths.FirstOrDefault(p => !WebGuard.IsMediaPath(p)) is { } bad)
        {
            return Results.BadRequest(new ApiError($"'{bad}' is not a media path (a stream's preview.jpg or preview.mjpg, an event's snapshot or clip)"));
        }
        var signed = paths.Select(guard.Sign).ToList();
        return Results.Ok(new SignedMedia(signed.Select(s => s.Url).ToList(), signed.Min(s => s.Expires)));
    }

    private static IResult Health(IStreamRegistry registry)
    {
        var verdict = StreamHealth.Of(registry.Streams);
        return verdict.Healthy ? Results.Text(verdict.Text) : Results.Text(verdict.Text, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static void MapDashboard(WebApplication app)
    {
        foreach (var (path, file, type) in new[]
        {
            ("/", "index.html", "text/html; charset=utf-8"),
            ("/app.js", "app.js", "text/javascript; charset=utf-8"),
            ("/app.css", "app.css", "text/css; charset=utf-8"),
        })
        {
            var bytes = Resource(file);
            app.MapGet(path, () => Results.Bytes(bytes, type));
        }
    }

    private static byte[] Resource(string file)
    {
        using var stream = Assembly.GetExecutingAssembly().GetManifestResourceStream($"Edge.Host.Web.wwwroot.{file}")
            ?? throw new InvalidOperationException($"dashboard file {file} is not embedded in the assembly");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static void MapStreams(WebApplication app, IStreamRegistry registry, PreviewHub previews, string modelsDirectory)
    {
        var stopping = app.Lifetime.ApplicationStopping;
        app.MapGet("/api/streams", () => Results.Ok(registry.Streams));
        app.MapGet("/api/streams/{id}", (string id) =>
            registry.Find(id) is { } status ? Results.Ok(status) : NoStream(id));
        app.MapGet("/api/streams/{id}/anomaly", (string id) =>
            registry.Find(id) is null ? NoStream(id) : Results.Ok(new { scores = registry.AnomalyHistory(id) }));
        app.MapPost("/api/streams", async (HttpRequest request, CancellationToken ct) =>
        {
            StreamDefinition? definition;
            try
            {
                definition = await JsonSerializer.DeserializeAsync<StreamDefinition>(request.Body, s_definitionJson, ct).ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                return Results.BadRequest(new ApiError($"the body is not a stream definition ({{\"id\", \"source\", \"targetFps\", \"loop\", \"anomalyModel\", \"activityModel\", \"events\", \"zones\", \"learnMinutes\"}}): {ex.Message}"));
            }
            if (Check(definition) is { } problem)
            {
                return Results.BadRequest(new ApiError(problem));
            }
            var models = new ModelFolder(modelsDirectory);
            if (models.Check("anomalyModel", definition!.AnomalyModel, out var anomalyModel) is { } anomalyProblem)
            {
                return Results.BadRequest(new ApiError(anomalyProblem));
            }
            if (models.Check("activityModel", definition.ActivityModel, out var activityModel) is { } activityProblem)
            {
                return Results.BadRequest(new ApiError(activityProblem));
            }
            if (Existing(registry, definition.Id) is { } existing)
            {
                return Results.Conflict(new ApiError(existing == definition.Id
                    ? $"stream '{definition.Id}' already exists"
                    : $"stream '{existing}' already exists; ids may not differ only in case"));
            }
            try
            {
                var status = await registry.AddAsync(definition with { AnomalyModel = anomalyModel, ActivityModel = activityModel }, ct).ConfigureAwait(false);
                return Results.Created($"/api/streams/{Uri.EscapeDataString(status.Id)}", status);
            }
            catch (StreamLimitException ex)
            {
                return Results.Json(new ApiError(ex.Message), statusCode: StatusCodes.Status429TooManyRequests);
            }
            catch (ArgumentException ex)
            {
                // Another request may have added the same id between the check above and now.
                return Existing(registry, definition.Id) is not null
                    ? Results.Conflict(new ApiError($"stream '{definition.Id}' already exists"))
                    : Results.BadRequest(new ApiError(models.Relative(ex.Message)));
            }
        });
        app.MapDelete("/api/streams/{id}", async (string id, CancellationToken ct) =>
        {
            if (!await registry.RemoveAsync(id, ct).ConfigureAwait(false))
            {
                return NoStream(id);
            }
            previews.Remove(id);
            return Results.NoContent();
        });
        app.MapPost("/api/streams/{id}/learn", (string id) => registry.Relearn(id) switch
        {
            RelearnOutcome.Started => Results.Accepted($"/api/streams/{id}", registry.Find(id)),
            RelearnOutcome.NoStream => NoStream(id),
            RelearnOutcome.Busy => Results.Conflict(new ApiError($"stream '{id}' is fitting its anomaly model now; ask again when it is done")),
            _ => Results.Conflict(new ApiError($"stream '{id}' does not learn: it has a configured anomaly model, or its learnMinutes is 0")),
        });
        app.MapGet("/api/streams/{id}/preview.jpg", (string id) =>
            registry.Find(id) is null ? NoStream(id)
            : previews.Latest(id) is { } frame ? Results.Bytes(frame.Jpeg, "image/jpeg")
            : Results.NotFound(new ApiError($"stream '{id}' has no preview yet")));
        app.MapGet("/api/streams/{id}/preview.mjpg", async (HttpContext context, string id) =>
        {
            if (registry.Find(id) is null)
            {
                await NoStream(id).ExecuteAsync(context).ConfigureAwait(false);
                return;
            }
            await ServeMjpegAsync(context, id, registry, previews, stopping).ConfigureAwait(false);
        });
    }

    /// <summary>
    /// Writes each new preview as one part of a multipart/x-mixed-replace response until the client leaves, the
    /// stream is removed or the app stops (without that, Kestrel would wait for these endless responses at shutdown).
    /// </summary>
    private static async Task ServeMjpegAsync(HttpContext context, string id, IStreamRegistry registry, PreviewHub previews, CancellationToken stopping)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, stopping);
        var ct = linked.Token;
        context.Response.ContentType = $"multipart/x-mixed-replace; boundary={Boundary}";
        context.Response.Headers.CacheControl = "no-cache, no-store";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var body = context.Response.Body;
        long sequence = 0;
        try
        {
            // Headers now, so the viewer sees the stream open before the first preview exists.
            await context.Response.StartAsync(ct).ConfigureAwait(false);
            await body.WriteAsync(s_partStart, ct).ConfigureAwait(false);
            await body.FlushAsync(ct).ConfigureAwait(false);
            while (!ct.IsCancellationRequested)
            {
                PreviewFrame frame;
                using (var wait = CancellationTokenSource.CreateLinkedTokenSource(ct))
                {
                    wait.CancelAfter(TimeSpan.FromSeconds(5));
                    try
                    {
                        frame = await previews.NextAsync(id, sequence, wait.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        if (registry.Find(id) is null)
                        {
                            return;
                        }
                        continue;
                    }
                }
                // The boundary goes right after each JPEG, not before the next: browsers show a part only once its
                // closing boundary has arrived.
                var header = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
                    $"Content-Type: image/jpeg\r\nContent-Length: {frame.Jpeg.Length}\r\n\r\n"));
                await body.WriteAsync(header, ct).ConfigureAwait(false);
                await body.WriteAsync(frame.Jpeg, ct).ConfigureAwait(false);
                await body.WriteAsync(s_partEnd, ct).ConfigureAwait(false);
                await body.FlushAsync(ct).ConfigureAwait(false);
                sequence = frame.Sequence;
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException)
        {
            // The viewer went away or the app is stopping: a normal end of a live preview.
        }
    }

    private static string? Check(StreamDefinition? definition) => definition switch
    {
        null => "the body is empty; send a JSON stream definition such as {\"id\": \"gate\", \"source\": \"rtsp://camera/stream\"}",
        { Id: null or "" } => "'id' is required",
        _ when !StreamDefinition.IsValidId(definition.Id) => "'id' must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'",
        { Source: null or "" } => "'source' is required (a file, a camera such as 0 or /dev/video0, or a URL)",
        _ when !double.IsFinite(definition.TargetFps) || definition.TargetFps is < 0 or > 1000 => "'targetFps' must be between 0 (the source's rate) and 1000",
        _ => null,
    };

    private static IResult NoStream(string id) => Results.NotFound(new ApiError($"no stream '{id}'"));

    /// <summary>The id of a running stream equal to <paramref name="id"/> but for case, or null.</summary>
    private static string? Existing(IStreamRegistry registry, string id) =>
        registry.Find(id)?.Id ?? registry.Streams.FirstOrDefault(s => string.Equals(s.Id, id, StringComparison.OrdinalIgnoreCase))?.Id;

    private static void MapEvents(WebApplication app, SqliteEventStore events, string eventsFolder)
    {
        app.MapGet("/api/events", (HttpRequest request) =>
        {
            var (filter, limit, after, error) = ParseEventQuery(request.Query);
            if (filter is null)
            {
                return Results.BadRequest(new ApiError(error!));
            }
            var page = events.Page(filter, limit, after);
            var next = page.Next?.Encode();
            return Results.Ok(new EventList(page.Events.Select(EventView.From).ToList(), next,
                next is null ? null : NextLink(request.Query, next)));
        });
        app.MapGet("/api/events/{id}", (string id) =>
            events.Find(id) is { } e ? Results.Ok(EventView.From(e)) : NoEvent(id));
        app.MapGet("/api/events/{id}/snapshot", (string id) =>
            EventFile(events.Find(id), id, e => e.Snapshot, eventsFolder) is { } path
                ? Results.File(path, "image/jpeg") : NoEventFile(id, "snapshot"));
        app.MapGet("/api/events/{id}/clip", (string id) =>
            EventFile(events.Find(id), id, e => e.Clip, eventsFolder) is { } path
                ? Results.File(path, ClipType(path), Path.GetFileName(path), enableRangeProcessing: true) : NoEventFile(id, "clip"));
    }

    private static IResult NoEvent(string id) => Results.NotFound(new ApiError($"no event '{id}'"));

    private static IResult NoEventFile(string id, string what) => Results.NotFound(new ApiError($"event '{id}' has no {what}"));

    /// <summary>The event's file, only by its bare name inside the events folder, and only when it exists.</summary>
    private static string? EventFile(DetectedEvent? e, string id, Func<DetectedEvent, string?> name, string folder) =>
        e is not null && name(e) is { Length: > 0 } file && Path.GetFileName(file) == file
            && Path.Combine(Path.GetFullPath(folder), file) is var path && File.Exists(path) ? path : null;

    private static string ClipType(string path) => Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".avi" => "video/x-msvideo",
        ".mp4" => "video/mp4",
        _ => "application/octet-stream",
    };

    private sealed record ParsedQuery(EventFilter? Filter, int Limit, EventCursor? After, string? Error);

    private static ParsedQuery ParseEventQuery(IQueryCollection query)
    {
        static string? Text(IQueryCollection query, string key) => query[key].ToString() is { Length: > 0 } value ? value : null;
        ParsedQuery Fail(string error) => new(null, 0, null, error);

        var limit = DefaultPageSize;
        if (Text(query, "limit") is { } limitText
            && (!int.TryParse(limitText, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > MaxPageSize))
        {
            return Fail($"'limit' must be a whole number from 1 to {MaxPageSize}");
        }
        double? from = null, to = null, minScore = null;
        if (Text(query, "from") is { } fromText && (from = ParseTime(fromText)) is null)
        {
            return Fail("'from' must be an ISO 8601 time (2026-11-26T10:00:00Z) or milliseconds (Unix time for live streams, media time for files)");
        }
        if (Text(query, "to") is { } toText && (to = ParseTime(toText)) is null)
        {
            return Fail("'to' must be an ISO 8601 time (2026-11-26T10:00:00Z) or milliseconds (Unix time for live streams, media time for files)");
        }
        if (Text(query, "minScore") is { } scoreText)
        {
            if (!double.TryParse(scoreText, NumberStyles.Float, CultureInfo.InvariantCulture, out var score) || !double.IsFinite(score))
            {
                return Fail("'minScore' must be a number");
            }
            minScore = score;
        }
        EventCursor? after = null;
        if (Text(query, "cursor") is { } cursorText && !EventCursor.TryDecode(cursorText, out after))
        {
            return Fail("'cursor' is not a cursor from an earlier page ('next')");
        }
        return new ParsedQuery(new EventFilter(Text(query, "stream"), Text(query, "kind"), from, to, minScore), limit, after, null);
    }

    private static double? ParseTime(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) && double.IsFinite(ms) ? ms
        : DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time) ? time.ToUnixTimeMilliseconds()
        : null;

    /// <summary>The same query with the next cursor; the token stays out of response bodies.</summary>
    private static string NextLink(IQueryCollection query, string cursor)
    {
        var parts = query.Where(q => q.Key is not ("cursor" or "token"))
            .Select(q => $"{Uri.EscapeDataString(q.Key)}={Uri.EscapeDataString(q.Value.ToString())}")
            .Append($"cursor={cursor}");
        return "/api/events?" + string.Join("&", parts);
    }
}

/// <summary>
/// The owner's logger factory without ASP.NET Core's per-request log, which writes each URL with its query string:
/// a <c>?token=</c> would reach the log.
/// </summary>
internal sealed class QuietRequestLogs(ILoggerFactory inner) : ILoggerFactory
{
    public ILogger CreateLogger(string categoryName) =>
        categoryName.StartsWith("Microsoft.AspNetCore.Hosting.Diagnostics", StringComparison.Ordinal)
            ? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance : inner.CreateLogger(categoryName);

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The owner's factory outlives the app.
    public void Dispose()
    {
    }
}

/// <summary>The body of every 4xx answer.</summary>
public sealed record ApiError(string Error);

/// <summary>An event as the API shows it, with links to its files.</summary>
public sealed record EventView(string Id, string Stream, string Kind, string Label, double StartMs, double EndMs, double DurationMs,
    long StartFrame, long EndFrame, long PeakFrame, double PeakScore, string? SnapshotUrl, string? ClipUrl)
{
    public static EventView From(DetectedEvent e)
    {
        var self = $"/api/events/{Uri.EscapeDataString(e.Id)}";
        return new EventView(e.Id, e.StreamId, e.Kind, e.Label, e.StartMs, e.EndMs, e.DurationMs, e.StartFrame, e.EndFrame,
            e.PeakFrame, e.PeakScore, e.Snapshot is null ? null : self + "/snapshot", e.Clip is null ? null : self + "/clip");
    }
}

/// <summary>Signed media URLs in the order asked for, and when the first of them expires.</summary>
public sealed record SignedMedia(List<string> Urls, DateTimeOffset ExpiresUtc);

/// <summary>One page of events, newest first; <see cref="Next"/> (a cursor) and <see cref="NextUrl"/> are null on the last page.</summary>
public sealed record EventList(List<EventView> Items, string? Next, string? NextUrl);
