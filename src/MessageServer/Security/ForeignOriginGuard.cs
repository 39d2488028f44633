using MessageServer.Configuration;

namespace MessageServer.Security;

/// <summary>
/// Refuses (403) a state-changing request whose Origin is neither this server's own nor listed in CORS_ORIGINS.
/// CORS keeps other sites from reading answers, not from sending requests: without this a page elsewhere could
/// publish or delete with a plain form post (text/plain needs no preflight) where anonymous writes are allowed.
/// Requests without an Origin (curl, servers, same-origin GETs) are not browsers acting for another site.
/// </summary>
public sealed class ForeignOriginGuard(RequestDelegate next, ServerSettings settings)
{
    private readonly HashSet<string> allowed = new(settings.CorsOrigins, StringComparer.OrdinalIgnoreCase);

    // Not async: a request let through is handed on without a state machine of this middleware's own, which every
    // open stream would otherwise hold for as long as it lasts.
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method) || HttpMethods.IsOptions(request.Method)
            || !request.Headers.TryGetValue("Origin", out var origins) || IsAllowed(origins.ToString(), request))
        {
            return next(context);
        }
        return TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Foreign origin",
            detail: "Requests that change data are accepted only from this server's own pages and the origins in CORS_ORIGINS.")
            .ExecuteAsync(context);
    }

    private bool IsAllowed(string origin, HttpRequest request)
    {
        if (allowed.Contains(origin))
        {
            return true;
        }
        if (!Uri.TryCreate(origin, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
        {
            return false; // "null" (sandboxed frames, file: pages) and anything malformed
        }
        // The server's own page: the origin names the host the browser asked for. Behind a proxy that passes a
        // different Host upstream, X-Forwarded-Host names it; a page on another site cannot set that header on a
        // cross-site request without a preflight, which fails.
        return SameHost(uri, request.Headers.Host.ToString()) || SameHost(uri, request.Headers["X-Forwarded-Host"].ToString().Split(',')[0].Trim());
    }

    private static bool SameHost(Uri origin, string host)
    {
        if (host.Length == 0)
        {
            return false;
        }
        var parsed = HostString.FromUriComponent(host);
        // Brackets of IPv6 literals differ between the two forms; an international name is compared as punycode.
        var name = parsed.Host.Trim('[', ']');
        // A Host without a port was asked for on the scheme's default port (the scheme itself may be a proxy's).
        return (parsed.Port is { } port ? port == origin.Port : origin.IsDefaultPort)
            && (string.Equals(name, origin.IdnHost.Trim('[', ']'), StringComparison.OrdinalIgnoreCase)
                || string.Equals(name, origin.Host.Trim('[', ']'), StringComparison.OrdinalIgnoreCase));
    }
}
