using MessageServer.Storage;

namespace MessageServer.Search;

/// <summary>
/// Indexes newly stored messages for search in the background, in batches, so publishing never waits for it:
/// one batch after another while they come out full, otherwise a short pause first, so that under a steady stream of
/// publishes a batch holds what came in meanwhile (hundreds) rather than a few: the cost of a batch (a statement, a
/// commit, merging the index's pending entries) is then shared by many messages. Searches also match the messages
/// not indexed yet (each store says how), so what this runs behind by costs search time, never correctness.
/// </summary>
public abstract class SearchIndexer(DatabaseState state, ILogger logger) : BackgroundService
{
    /// <summary>How many messages one batch indexes at most: large enough to be cheap per message, small enough to commit often.</summary>
    internal abstract int BatchSize { get; }

    protected ILogger Logger { get; } = logger;

    private static readonly TimeSpan Pause = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(5);

    /// <summary>Indexes one batch; returns how many messages it took (0: nothing to do).</summary>
    internal abstract Task<int> IndexBatchAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await state.WaitUntilMigratedAsync(stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
            {
                var delay = Pause;
                try
                {
                    if (await IndexBatchAsync(stoppingToken) >= BatchSize)
                    {
                        continue;
                    }
                }
                catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
                {
                    Logger.LogWarning("Could not index messages for search ({Reason}); retrying in {Seconds:0} s", exception.Describe(), RetryInterval.TotalSeconds);
                    delay = RetryInterval;
                }
                await Task.Delay(delay, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped (a batch cut short rolls back and is taken again later): not a failure that should stop the host.
        }
    }
}
