using MessageServer.Configuration;

namespace MessageServer.Operations;

/// <summary>One line at start-up that says what is running and where (never a password).</summary>
public sealed class StartupLog(ServerSettings settings, Security.AccessControl access, ILogger<StartupLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        logger.LogInformation(
            "message-server {Version} listening on {Endpoint}, storage {Storage}, auth {AuthMode}, metrics {Metrics}, retention {Retention}",
            settings.Version, Endpoint(), settings.StorageDescription, access.Describe(),
            settings.MetricsEnabled ? settings.MetricsPort is { } port ? $"on port {port}" : "on" : "off", settings.Retention.Describe());
        return Task.CompletedTask;
    }

    private string Endpoint() =>
        (settings.SocketPath is { } socketPath ? $"socket {socketPath}" : $"port {settings.Port}") +
        (settings.H2cPort is { } h2cPort ? $" (h2c on port {h2cPort})" : "");

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
