using System.Threading.Channels;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Streaming;
using Npgsql;

namespace MessageServer.Storage.Postgres;

/// <summary>
/// How this instance learns of every stored or deleted message, its own included: LISTEN on one dedicated
/// connection, then fetch the notified ids and hand them to the hub. NOTIFY arrives in commit order, and a
/// topic's ids commit in ascending order, so subscribers see each topic in id order. When the connection
/// drops (database restart, network cut) it reconnects and replays what the active topics missed.
/// </summary>
public sealed class PostgresChangeFeed(
    ServerSettings settings, PostgresMessageStore store, MessageHub hub, TopicWindows windows, DatabaseState state, ILogger<PostgresChangeFeed> logger)
    : BackgroundService
{
    public const string ListenerApplicationName = "message-server-listener";

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    // null means "catch up": replay from the store what active topics may have missed.
    private volatile bool listening;

    /// <summary>False while the LISTEN connection is down: live delivery is then late, so the instance is not ready.</summary>
    public bool IsListening => listening;

    private readonly Channel<string?> work = Channel.CreateUnbounded<string?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly string listenerConnectionString = new NpgsqlConnectionStringBuilder(settings.Postgres!.ConnectionString)
    {
        ApplicationName = ListenerApplicationName,
        Pooling = false,
    }.ConnectionString;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await state.WaitUntilMigratedAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return; // stopped before the database was ever ready
        }
        var processing = ProcessAsync(stoppingToken);
        await ListenAsync(stoppingToken);
        work.Writer.TryComplete();
        await processing;
    }

    private async Task ListenAsync(CancellationToken stoppingToken)
    {
        var delay = TimeSpan.FromMilliseconds(200);
        var everConnected = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(listenerConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, notification) => work.Writer.TryWrite(notification.Payload);
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresMessageStore.ChangeChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                if (everConnected)
                {
                    logger.LogInformation("Change feed reconnected; replaying what live subscribers missed");
                }
                // Also on the first connection: a subscriber may have joined just before LISTEN took effect.
                work.Writer.TryWrite(null);
                listening = true;
                everConnected = true;
                delay = TimeSpan.FromMilliseconds(200);
                while (true)
                {
                    // A quiet connection may be a dead one (a network cut sends nothing): probe it now and then.
                    if (!await connection.WaitAsync(ProbeInterval, stoppingToken))
                    {
                        await using var probe = new NpgsqlCommand("SELECT 1", connection);
                        await probe.ExecuteNonQueryAsync(stoppingToken);
                    }
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                listening = false;
                Operations.ServerMetrics.DatabaseErrors.WithLabels("change_feed").Inc();
                logger.LogWarning("Change feed lost its database connection ({Reason}); reconnecting in {Milliseconds} ms", exception.Describe(), delay.TotalMilliseconds);
                await Task.Delay(delay, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task ProcessAsync(CancellationToken stoppingToken)
    {
        await foreach (var payload in work.Reader.ReadAllAsync(CancellationToken.None))
        {
            try
            {
                if (payload is null)
                {
                    await CatchUpAsync(stoppingToken);
                    continue;
                }
                switch (ChangeNotification.Parse(payload))
                {
                    case ChangeNotification.Parsed.Stored stored:
                        foreach (var message in await store.GetManyAsync(stored.Ids, stoppingToken))
                        {
                            Deliver(message);
                        }
                        break;
                    case ChangeNotification.Parsed.Deleted deleted:
                        windows.Remove(deleted.Topic, deleted.Id);
                        hub.DeliverDeleted(deleted.Topic, deleted.Id);
                        break;
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                // The events are still in the database: a catch-up shortly will deliver them.
                logger.LogWarning("Change feed could not fetch new messages ({Reason}); catching up shortly", exception.Message);
                _ = Task.Delay(MaxRetryDelay, stoppingToken).ContinueWith(_ => work.Writer.TryWrite(null), TaskScheduler.Default);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// After the feed may have missed events: live subscribers get the messages they missed from the store, and
    /// the read windows are dropped, since they may also lack deletions and topics nobody is subscribed to.
    /// </summary>
    private async Task CatchUpAsync(CancellationToken cancellationToken)
    {
        windows.Clear();
        foreach (var (topic, after) in hub.ActiveTopics())
        {
            await foreach (var page in store.PagesAfterAsync(topic, after, cancellationToken))
            {
                foreach (var message in page)
                {
                    Deliver(message);
                }
            }
        }
    }

    /// <summary>A message reaches this instance's read windows and live subscribers the same way, whatever brought it.</summary>
    private void Deliver(Message message)
    {
        windows.Add(message);
        hub.Deliver(message);
    }
}
