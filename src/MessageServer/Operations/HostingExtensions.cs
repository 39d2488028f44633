using MessageServer.Configuration;
using Microsoft.AspNetCore.Diagnostics;

namespace MessageServer.Operations;

public static class HostingExtensions
{
    /// <summary>
    /// The app's own folder when it holds the page (a published build): the page and appsettings.json are then found
    /// wherever the process is started from (a service manager or wrapper script rarely starts it there). Null, the
    /// working directory as usual, for `dotnet run`. Data paths such as SQLITE_PATH stay relative to the working directory.
    /// </summary>
    public static string? InstalledContentRoot() =>
        Directory.Exists(Path.Combine(AppContext.BaseDirectory, "wwwroot")) ? AppContext.BaseDirectory : null;

    /// <summary>Kestrel on the configured port (or SOCKET_PATH) and H2C_PORT, the shutdown timeout, problem+json for errors, the start-up log line.</summary>
    public static WebApplicationBuilder AddServerHosting(this WebApplicationBuilder builder, ServerSettings settings)
    {
        builder.Services.AddSingleton(settings);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (settings.SocketPath is { } socketPath)
            {
                kestrel.ListenUnixSocket(socketPath);
            }
            else
            {
                kestrel.ListenAnyIP(settings.Port);
            }
            if (settings.H2cPort is { } h2cPort)
            {
                // Kestrel speaks HTTP/2 without TLS only on an endpoint that speaks nothing else (no TLS, no ALPN to choose).
                kestrel.ListenAnyIP(h2cPort, listen => listen.Protocols = Microsoft.AspNetCore.Server.Kestrel.Core.HttpProtocols.Http2);
            }
            kestrel.AddServerHeader = false;
        });
        if (settings.SocketPath is not null)
        {
            builder.WebHost.UseSockets(sockets => sockets.CreateBoundListenSocket = UnixSocketListener.CreateBoundSocket);
        }
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, OperationsJsonContext.Default));
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ClientErrorHandler>();
        builder.Services.AddHostedService<StartupLog>();
        return builder;
    }

    /// <summary>
    /// Unhandled exceptions (the exception handlers registered by the features) and bare status codes (404, 405, ...)
    /// become problem+json.
    /// </summary>
    public static WebApplication UseProblemResponses(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        return app;
    }

    /// <summary>The web page: / serves index.html from wwwroot, with its scripts and styles.</summary>
    public static WebApplication UseWebPage(this WebApplication app)
    {
        app.UseDefaultFiles();
        app.UseStaticFiles();
        return app;
    }

    /// <summary>
    /// Malformed requests that Kestrel itself rejects keep their 4xx, and a client that hung up gets no
    /// answer at all; neither is logged as a server error.
    /// </summary>
    private sealed class ClientErrorHandler : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
        {
            switch (exception)
            {
                case BadHttpRequestException badRequest:
                    await TypedResults.Problem(statusCode: badRequest.StatusCode, title: "Bad request", detail: badRequest.Message).ExecuteAsync(httpContext);
                    return true;
                case OperationCanceledException when httpContext.RequestAborted.IsCancellationRequested:
                    httpContext.Response.StatusCode = 499;
                    return true;
                default:
                    return false;
            }
        }
    }
}
