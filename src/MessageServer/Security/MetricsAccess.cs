using MessageServer.Configuration;

namespace MessageServer.Security;

public static class MetricsAccess
{
    /// <summary>
    /// With AUTH_DEFAULT_ACCESS=none and /metrics on the public port, a scrape needs a valid token (any token): the
    /// figures (topics' traffic, error rates) are not for anonymous clients of a closed server.
    /// </summary>
    public static WebApplication UseMetricsAccess(this WebApplication app, ServerSettings settings)
    {
        if (settings is not { MetricsEnabled: true, MetricsPort: null, AnonymousAccess: AnonymousAccess.None })
        {
            // Nothing to guard: no metrics, metrics on a port of their own, or a server open to anonymous readers.
            return app;
        }
        app.UseWhen(context => context.Request.Path.StartsWithSegments("/metrics", StringComparison.OrdinalIgnoreCase), metrics => metrics.Use(async (context, next) =>
        {
            var access = context.RequestServices.GetRequiredService<AccessControl>();
            if (await access.RequireTokenAsync(context, context.RequestAborted) is { } problem)
            {
                await problem.ExecuteAsync(context);
                return;
            }
            await next(context);
        }));
        return app;
    }
}
