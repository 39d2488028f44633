using MessageServer.ChangeFeed;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Security;
using MessageServer.Streaming;
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

    /// <summary>Kestrel on the configured port, JSON and problem+json conventions, error handling.</summary>
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
            kestrel.AddServerHeader = false;
        });
        if (settings.SocketPath is not null)
        {
            builder.WebHost.UseSockets(sockets => sockets.CreateBoundListenSocket = UnixSocketListener.CreateBoundSocket);
        }
        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(5));
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, MessageJsonContext.Default);
            json.SerializerOptions.TypeInfoResolverChain.Insert(1, OperationsJsonContext.Default);
        });
        builder.AddHttpHygiene(settings);
        builder.Services.AddRateLimits(settings);
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<ClientErrorHandler>();
        builder.Services.AddSingleton<MessagePublisher>();
        builder.Services.AddSingleton<MessageHub>();
        builder.Services.AddSingleton<StreamReplayGate>();
        builder.Services.AddSingleton<IChangeConsumer>(provider => provider.GetRequiredService<MessageHub>());
        builder.Services.AddSingleton<TopicWindows>();
        builder.Services.AddSingleton<IChangeConsumer>(provider => provider.GetRequiredService<TopicWindows>());
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<AccessControl>();
        builder.Services.AddSingleton<StreamAccessWatch>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<StreamAccessWatch>());
        builder.Services.AddHostedService<StartupLog>();
        return builder;
    }

    public static WebApplication UseServerPipeline(this WebApplication app, ServerSettings settings)
    {
        app.UseHttpHygiene(settings);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        if (settings.RateLimits is not null)
        {
            app.UseRateLimiter();
        }
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
