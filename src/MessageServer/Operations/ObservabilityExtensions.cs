using MessageServer.Configuration;
using Microsoft.OpenApi;
using Prometheus;

namespace MessageServer.Operations;

public static class ObservabilityExtensions
{
    /// <summary>Log format, which runtime meters /metrics exports, the metrics listener when it has a port of its own, and the OpenAPI document.</summary>
    public static WebApplicationBuilder AddObservability(this WebApplicationBuilder builder, ServerSettings settings)
    {
        if (settings.JsonLogs)
        {
            builder.Logging.ClearProviders();
            builder.Logging.AddJsonConsole(json =>
            {
                json.UseUtcTimestamp = true;
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
            });
        }
        if (settings.MetricsEnabled)
        {
            ServerMetrics.ConfigureExports();
            if (settings.MetricsPort is { } metricsPort)
            {
                builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(metricsPort));
            }
        }
        builder.Services.AddOpenApi(openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            document.Info.Title = "message-server";
            document.Info.Version = settings.Version;
            document.Info.Description = "Publish and read messages by topic, and watch topics live with Server-Sent Events. Errors are RFC 9457 problem+json.";
            // Relative: the server a reader fetched the document from, never a Host header a client made up.
            document.Servers = [new OpenApiServer { Url = "/" }];
            return Task.CompletedTask;
        }));
        return builder;
    }

    /// <summary>Request id, log line and HTTP duration metric: early in the pipeline so they see every request.</summary>
    public static WebApplication UseRequestTelemetry(this WebApplication app)
    {
        app.UseMiddleware<RequestTelemetry>();
        return app;
    }

    /// <summary>
    /// The offline API reference at /docs. Swagger UI's assets ship inside its package: the page works with no
    /// internet access. Its middleware matches paths with regular expressions, so only requests under /docs reach it.
    /// </summary>
    public static WebApplication UseApiDocs(this WebApplication app)
    {
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/docs"), docs => docs.UseSwaggerUI(ui =>
        {
            ui.RoutePrefix = "docs";
            ui.DocumentTitle = "message-server API";
            ui.SwaggerEndpoint("/openapi/v1.json", "message-server");
        }));
        return app;
    }

    /// <summary>/metrics (Prometheus text format; on METRICS_PORT only when that is set) and /openapi/v1.json.</summary>
    public static WebApplication MapObservability(this WebApplication app, ServerSettings settings)
    {
        if (settings.MetricsEnabled)
        {
            var metrics = app.MapMetrics().WithName("Metrics").WithSummary("Prometheus metrics").ExcludeFromDescription();
            if (settings.MetricsPort is { } metricsPort)
            {
                metrics.RequireHost($"*:{metricsPort}");
            }
        }
        app.MapOpenApi().WithName("OpenApi").ExcludeFromDescription();
        return app;
    }
}
