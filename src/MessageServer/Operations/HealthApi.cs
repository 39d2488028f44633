using System.Text.Json.Serialization;
using MessageServer.Configuration;
using Microsoft.AspNetCore.Http.HttpResults;
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
        routes.MapGet("/ready", Ready)
            .WithName("Ready").WithSummary("Readiness: the database answers and is migrated")
            .Produces<ReadinessStatus>(StatusCodes.Status503ServiceUnavailable);
        return routes;
    }

    public static async Task<Results<Ok<ReadinessStatus>, JsonHttpResult<ReadinessStatus>>> Ready(
        HealthCheckService health, HttpContext context, CancellationToken cancellationToken)
    {
        var report = await health.CheckHealthAsync(cancellationToken);
        context.Response.Headers.CacheControl = "no-store";
        var reason = string.Join("; ", report.Entries.Values.Select(entry => entry.Description));
        return report.Status == HealthStatus.Healthy
            ? TypedResults.Ok(new ReadinessStatus("ready", reason))
            : TypedResults.Json(new ReadinessStatus("unavailable", reason), statusCode: StatusCodes.Status503ServiceUnavailable);
    }
}

public sealed record LivenessStatus(string Status, string Version);

public sealed record ReadinessStatus(string Status, string Reason);

[JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(LivenessStatus))]
[JsonSerializable(typeof(ReadinessStatus))]
public sealed partial class OperationsJsonContext : JsonSerializerContext;
