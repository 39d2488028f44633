using MessageServer.Security;

namespace MessageServer.Storage;

/// <summary>
/// Migrates the database in the background and keeps retrying while it is unreachable, so the process
/// stays up (answering /ready with 503) when the database boots later than the server. A script that fails is
/// another matter: it is logged as an error with the script's name, /ready names it, and it is tried again only
/// now and then, in case someone fixes the database meanwhile.
/// </summary>
public sealed class DatabaseStartup(IMessageStore store, ITokenStore tokens, DatabaseState state, ILogger<DatabaseStartup> logger) : BackgroundService
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan FailedMigrationRetry = TimeSpan.FromSeconds(30);

    // While the database stays unreachable, a reminder now and then rather than a line per attempt.
    private static readonly TimeSpan ReminderInterval = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        var lastWarning = DateTime.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await store.MigrateAsync(stoppingToken);
                state.MigrationFailure = null;
                state.MarkMigrated();
                logger.LogInformation("Database is migrated and ready");
                await ReportRuleBreakersAsync(stoppingToken);
                return;
            }
            catch (MigrationFailedException failure) when (!stoppingToken.IsCancellationRequested)
            {
                if (state.MigrationFailure is null)
                {
                    logger.LogError("Database migration {Script} failed; the server stays unready until it succeeds (retrying every {Seconds:0} s): {Reason}",
                        failure.Script, FailedMigrationRetry.TotalSeconds, failure.InnerException?.Describe());
                }
                state.MigrationFailure = failure.Message;
                await Task.Delay(FailedMigrationRetry, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                if (DateTime.UtcNow - lastWarning >= ReminderInterval)
                {
                    logger.LogWarning("Database is not ready yet ({Reason}); retrying every few seconds", exception.Describe());
                    lastWarning = DateTime.UtcNow;
                }
                else
                {
                    logger.LogDebug("Database is still not ready ({Reason})", exception.Describe());
                }
                await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }

    private async Task ReportRuleBreakersAsync(CancellationToken stoppingToken)
    {
        try
        {
            await TopicRuleAudit.ReportAsync(store, tokens, logger, stoppingToken);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            logger.LogWarning("Could not check stored topics against the topic rule ({Reason})", exception.Describe());
        }
    }
}
