using MessageServer.ChangeFeed;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Storage;

namespace MessageServer.Operations;

/// <summary>
/// Applies RETENTION_DAYS and RETENTION_MAX_PER_TOPIC every RETENTION_INTERVAL_SECONDS. With several instances
/// on one PostgreSQL only one applies it at a time (an advisory lock); deletions reach live streams as
/// "deleted" events through the change feed, and clients that were away learn of them from the tombstones.
/// </summary>
public sealed class RetentionJob(IMessageStore store, IChangeFeed changeFeed, DatabaseState state, ServerSettings settings, ILogger<RetentionJob> logger) : BackgroundService
{
    private const int BatchLimit = 10_000;

    /// <summary>One pass: deletes in batches until nothing is left to delete. Returns null when another instance ran it.</summary>
    public async Task<int?> RunOnceAsync(CancellationToken cancellationToken)
    {
        var policy = settings.Retention;
        var olderThan = policy.Days is { } days ? DateTime.UtcNow.AddDays(-days) : (DateTime?)null;
        var total = 0;
        while (true)
        {
            var deleted = await store.ApplyRetentionAsync(olderThan, policy.MaxPerTopic, BatchLimit, cancellationToken);
            if (deleted is null)
            {
                return total == 0 ? null : total;
            }
            changeFeed.Deleted(deleted);
            total += deleted.Count;
            ServerMetrics.RetentionDeleted.Inc(deleted.Count);
            if (deleted.Count < BatchLimit)
            {
                return total;
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!settings.Retention.Enabled)
        {
            return;
        }
        try
        {
            await state.WaitUntilMigratedAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return; // stopped before the database was ever ready
        }
        using var timer = new PeriodicTimer(settings.Retention.Interval);
        do
        {
            try
            {
                var deleted = await RunOnceAsync(stoppingToken);
                if (deleted is > 0)
                {
                    logger.LogInformation("Retention removed {Count} messages ({Policy})", deleted, settings.Retention.Describe());
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                ServerMetrics.DatabaseErrors.WithLabels("retention").Inc();
                logger.LogWarning("Retention could not run ({Reason}); trying again in {Interval}", exception.Message, settings.Retention.Interval);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(tick => tick.IsCompletedSuccessfully && tick.Result, TaskScheduler.Default));
    }
}

public static class RetentionExtensions
{
    public static IServiceCollection AddRetention(this IServiceCollection services)
    {
        services.AddSingleton<RetentionJob>();
        services.AddHostedService(provider => provider.GetRequiredService<RetentionJob>());
        return services;
    }
}
