using System.Diagnostics;

namespace MessageServer.Operations;

/// <summary>
/// One log line per request (method, route template, status, duration, request id) and the request id in the
/// X-Request-Id response header. The id is the W3C trace id, so an incoming traceparent carries through.
/// </summary>
public sealed partial class RequestLogging(RequestDelegate next, ILogger<RequestLogging> logger)
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
            if (logger.IsEnabled(LogLevel.Information))
            {
                var route = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "(no route)";
                LogRequest(logger, context.Request.Method, route, context.Response.StatusCode, Stopwatch.GetElapsedTime(started).TotalMilliseconds, requestId);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} {Route} answered {StatusCode} in {DurationMs:0.0} ms, request {RequestId}")]
    private static partial void LogRequest(ILogger logger, string method, string route, int statusCode, double durationMs, string requestId);

    private static string RequestId(HttpContext context)
    {
        var activity = context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpActivityFeature>()?.Activity ?? Activity.Current;
        return activity is { IdFormat: ActivityIdFormat.W3C } ? activity.TraceId.ToHexString() : context.TraceIdentifier;
    }
}
