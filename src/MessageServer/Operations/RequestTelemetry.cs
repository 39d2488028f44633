using System.Diagnostics;

namespace MessageServer.Operations;

/// <summary>
/// Per request, in one middleware: the request id in the X-Request-Id response header, one log line (method,
/// route template, status, duration, request id) and one observation of the HTTP duration histogram. The id is
/// the W3C trace id, so an incoming traceparent carries through.
/// </summary>
/// <remarks>
/// The histogram is observed here rather than by prometheus-net's HTTP middleware, which measured 8 % of the
/// CPU of a latest-page read: this already has the route and the duration at hand.
/// </remarks>
public sealed partial class RequestTelemetry(RequestDelegate next, ILogger<RequestTelemetry> logger, Configuration.ServerSettings settings)
{
    public const string RequestIdHeader = "X-Request-Id";

    public async Task InvokeAsync(HttpContext context)
    {
        var requestId = RequestId(context);
        context.Response.Headers[RequestIdHeader] = requestId;
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var duration = Stopwatch.GetElapsedTime(started);
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText;
            if (settings.MetricsEnabled)
            {
                ServerMetrics.ObserveRequest(route ?? "", context.Request.Method, context.Response.StatusCode, duration);
            }
            // Probes (/health, /ready) come every second from Docker, load balancers and the deploy: at Debug, so that
            // they do not push what matters (why the server is not ready) out of the log's tail.
            var level = route is "/health" or "/ready" ? LogLevel.Debug : LogLevel.Information;
            if (logger.IsEnabled(level))
            {
                LogRequest(logger, level, context.Request.Method, route ?? "(no route)", context.Response.StatusCode, duration.TotalMilliseconds, requestId);
            }
        }
    }

    [LoggerMessage(Message = "{Method} {Route} answered {StatusCode} in {DurationMs:0.0} ms, request {RequestId}")]
    private static partial void LogRequest(ILogger logger, LogLevel level, string method, string route, int statusCode, double durationMs, string requestId);

    private static string RequestId(HttpContext context)
    {
        var activity = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpActivityFeature>()?.Activity ?? Activity.Current;
        return activity is { IdFormat: ActivityIdFormat.W3C } ? activity.TraceId.ToHexString() : context.TraceIdentifier;
    }
}
