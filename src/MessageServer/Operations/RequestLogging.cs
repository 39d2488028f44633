using System.Diagnostics;

namespace MessageServer.Operations;

/// <summary>
/// One log line per request (method, route template, status, duration, request id) and the request id in the
/// X-Request-Id response header. The id is the W3C trace id, so an incoming traceparent carries through.
/// </summary>
public sealed class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
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
            var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
            logger.LogInformation(
                "{Method} {Route} answered {StatusCode} in {DurationMs:0.0} ms, request {RequestId}",
                context.Request.Method, route, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
        }
    }

    private static string RequestId(HttpContext context)
    {
        var activity = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpActivityFeature>()?.Activity ?? Activity.Current;
        return activity is { IdFormat: ActivityIdFormat.W3C } ? activity.TraceId.ToHexString() : context.TraceIdentifier;
    }
}
