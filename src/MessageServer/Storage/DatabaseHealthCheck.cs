using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessageServer.Storage;

/// <summary>Ready means: the schema is migrated and the database answers now.</summary>
public sealed class DatabaseHealthCheck(IMessageStore store, DatabaseState state, IServiceProvider services) : IHealthCheck
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        if (!state.IsMigrated)
        {
            return HealthCheckResult.Unhealthy("the database is not reachable or not migrated yet (see the server log)");
        }
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(PingTimeout);
        try
        {
            if (!await store.PingAsync(timeout.Token))
            {
                return HealthCheckResult.Unhealthy("the database gave an unexpected answer");
            }
            // With PostgreSQL, live delivery needs the change feed's LISTEN connection too.
            return services.GetService<Postgres.PostgresChangeFeed>() is { IsListening: false }
                ? HealthCheckResult.Unhealthy("the change feed is not listening yet (see the server log)")
                : HealthCheckResult.Healthy("the database answers");
        }
        catch (Exception exception) when (DatabaseUnavailable.IsUnavailable(exception) || exception is OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"the database does not answer: {exception.Message}");
        }
    }
}
