using System.Text.Json.Serialization;
using MessageServer.Configuration;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessageServer.Operations;

/// <summary>
/// GET /health   liveness: the process answers (never touches the database), with the build version
/// GET /ready    readiness: 200 when the database answers and is migrated, else 503
/// </summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/health", (ServerSettings settings) => TypedResults.Ok(new LivenessStatus("ok", settings.Version)))
            .WithName("Health").WithSummary("Liveness and version");
        routes.MapHealthChecks("/ready", new HealthCheckOptions { ResponseWriter = WriteReadiness })
            .WithName("Ready").WithSummary("Readiness: the database answers and is migrated");
        return routes;
    }

    private static Task WriteReadiness(HttpContext context, HealthReport report)
    {
        context.Response.Headers.CacheControl = "no-store";
        var reason = string.Join("; ", report.Entries.Values.Select(entry => entry.Description));
        var status = new ReadinessStatus(report.Status == HealthStatus.Healthy ? "ready" : "unavailable", reason);
        return context.Response.WriteAsJsonAsync(status, OperationsJsonContext.Default.ReadinessStatus);
    }
}

public sealed record LivenessStatus(string Status, string Version);

public sealed record ReadinessStatus(string Status, string Reason);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(LivenessStatus))]
[JsonSerializable(typeof(ReadinessStatus))]
public sealed partial class OperationsJsonContext : JsonSerializerContext;
