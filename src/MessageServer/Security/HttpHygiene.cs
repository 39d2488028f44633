using MessageServer.Configuration;
using Microsoft.AspNetCore.HttpOverrides;

namespace MessageServer.Security;

/// <summary>
/// What every response of a public server should carry and every request should be held to: security
/// headers, CORS only for listed origins, no state-changing requests from other sites' pages, the client address
/// from X-Forwarded-For only via trusted proxies, and Kestrel limits against slow or oversized requests.
/// </summary>
public static class HttpHygiene
{
    public const string CorsPolicy = "configured-origins";

    // The page and its API load nothing from elsewhere and run no inline script.
    private const string PageContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

    // Swagger UI loads its scripts from files (index.js included) but sets inline styles; it loads nothing from elsewhere.
    private const string DocsContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

    public static WebApplicationBuilder AddHttpHygiene(this WebApplicationBuilder builder, ServerSettings settings)
    {
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = 1024 * 1024;
            kestrel.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            kestrel.Limits.MaxRequestLineSize = 8 * 1024;
            kestrel.Limits.MaxRequestHeaderCount = 64;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Limits.KeepAliveTimeout = TimeSpan.FromSeconds(75);
        });
        builder.Services.Configure<ForwardedHeadersOptions>(forwarded =>
        {
            // The client's address for rate limits and logs, and whether it came over https, for the request's scheme.
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            // Only the configured proxies are believed; by default not even loopback is. A connection over
            // SOCKET_PATH has no address: the middleware believes its nearest hop, the proxy that opened it.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var network in settings.TrustedProxies)
            {
                forwarded.KnownIPNetworks.Add(network);
            }
            forwarded.ForwardLimit = 1;
        });
        if (settings.CorsOrigins.Count > 0)
        {
            builder.Services.AddCors(cors => cors.AddPolicy(CorsPolicy, policy => policy
                .WithOrigins([.. settings.CorsOrigins])
                .AllowAnyHeader()
                .AllowAnyMethod()
                .WithExposedHeaders("Location", "Retry-After", "X-Request-Id", "Idempotent-Replayed")));
        }
        return builder;
    }

    public static WebApplication UseHttpHygiene(this WebApplication app, ServerSettings settings)
    {
        if (settings.TrustedProxies.Count > 0)
        {
            app.UseForwardedHeaders();
        }
        app.Use((context, next) =>
        {
            var headers = context.Response.Headers;
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "no-referrer";
            headers.XFrameOptions = "DENY";
            headers.ContentSecurityPolicy = context.Request.Path.StartsWithSegments("/docs") ? DocsContentSecurityPolicy : PageContentSecurityPolicy;
            return next(context);
        });
        app.UseMiddleware<ForeignOriginGuard>();
        if (settings.CorsOrigins.Count > 0)
        {
            app.UseCors(CorsPolicy);
        }
        return app;
    }
}
