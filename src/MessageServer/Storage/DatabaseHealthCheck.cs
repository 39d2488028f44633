using MessageServer.ChangeFeed;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace MessageServer.Storage;

/// <summary>Ready means: the schema is migrated, the database answers now, and live delivery keeps up with it.</summary>
public sealed class DatabaseHealthCheck(IMessageStore store, DatabaseState state, IChangeFeed changeFeed) : IHealthCheck
{
    private static readonly TimeSpan PingTimeout = TimeSpan.FromSeconds(3);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken)
    {
        if (state.MigrationFailure is { } failure)
        {
            return HealthCheckResult.Unhealthy(failure);
        }
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
            return changeFeed.Lagging is { } lagging
                ? HealthCheckResult.Unhealthy(lagging)
                : HealthCheckResult.Healthy("the database answers");
        }
        catch (Exception exception) when (DatabaseUnavailable.IsUnavailable(exception) || exception is OperationCanceledException)
        {
            return HealthCheckResult.Unhealthy($"the database does not answer: {exception.Message}");
        }
    }
}
