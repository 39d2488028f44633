using MessageServer.Configuration;
using MessageServer.Security;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.OpenApi;
using Prometheus;

namespace MessageServer.Operations;

public static class ObservabilityExtensions
{
    /// <summary>Log format, OpenAPI document, and the metrics listener when it has a port of its own.</summary>
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
        if (settings is { MetricsEnabled: true, MetricsPort: { } metricsPort })
        {
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenAnyIP(metricsPort));
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
    public static WebApplication UseObservability(this WebApplication app, ServerSettings settings)
    {
        if (settings.MetricsEnabled)
        {
            ServerMetrics.ConfigureExports();
        }
        app.UseMiddleware<RequestTelemetry>();
        return app;
    }

    /// <summary>/metrics (Prometheus text format), /openapi/v1.json and the offline API reference at /docs.</summary>
    public static WebApplication MapObservability(this WebApplication app, ServerSettings settings)
    {
        if (settings.MetricsEnabled)
        {
            var metrics = app.MapMetrics().WithName("Metrics").WithSummary("Prometheus metrics").ExcludeFromDescription();
            if (settings.MetricsPort is { } metricsPort)
            {
                metrics.RequireHost($"*:{metricsPort}");
            }
            else if (settings.AnonymousAccess == AnonymousAccess.None)
            {
                app.UseMetricsAccess();
            }
        }
        app.MapOpenApi().WithName("OpenApi").ExcludeFromDescription();
        // Swagger UI's assets ship inside its package: the page works with no internet access. Its middleware
        // matches paths with regular expressions, so only requests under /docs reach it.
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/docs"), docs => docs.UseSwaggerUI(ui =>
        {
            ui.RoutePrefix = "docs";
            ui.DocumentTitle = "message-server API";
            ui.SwaggerEndpoint("/openapi/v1.json", "message-server");
        }));
        return app;
    }
}
