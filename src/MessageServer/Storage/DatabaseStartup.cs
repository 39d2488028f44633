namespace MessageServer.Storage;

/// <summary>
/// Migrates the database in the background and keeps retrying while it is unreachable, so the process
/// stays up (answering /ready with 503) when the database boots later than the server.
/// </summary>
public sealed class DatabaseStartup(IMessageStore store, DatabaseState state, ILogger<DatabaseStartup> logger) : BackgroundService
{
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(5);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(500);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await store.MigrateAsync(stoppingToken);
                state.MarkMigrated();
                logger.LogInformation("Database is migrated and ready");
                return;
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("Database is not ready yet ({Reason}); retrying in {Seconds:0.#} s", exception.Describe(), delay.TotalSeconds);
                await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }
}
