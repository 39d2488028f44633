using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Storage;
using MessageServer.Storage.Postgres;
using Npgsql;

namespace MessageServer.ChangeFeed;

/// <summary>
/// The change feed of instances sharing one PostgreSQL database. Every commit that stores or deletes messages
/// sends a NOTIFY in its own transaction; this feed LISTENs on one dedicated connection, fetches the notified
/// messages and hands them to the consumers. NOTIFY arrives in commit order and a topic's ids commit in ascending
/// order, so subscribers see each topic in id order, this instance's own publishes included.
/// </summary>
/// <remarks>
/// Whenever it may have missed something (the connection dropped, a fetch failed, its queue overflowed) it stops
/// delivering, drops what it had queued and lets the consumers catch up from the store: a gap is never papered
/// over by delivering later messages first. At most one catch-up runs at a time.
/// </remarks>
public sealed class PostgresChangeFeed(
    ServerSettings settings, PostgresMessageStore store, ChangeConsumers consumers, DatabaseState state, ILogger<PostgresChangeFeed> logger)
    : BackgroundService, IChangeFeed
{
    public const string ListenerApplicationName = "message-server-listener";

    private const int MaxQueuedNotifications = 10_000;
    private const int MaxOwnMessages = 50_000;
    private const long NoGap = long.MaxValue;

    private static readonly TimeSpan ProbeInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(2);

    // How much earlier than the moment it noticed a gap the feed looks for deletes it may have missed.
    private static readonly TimeSpan CatchUpMargin = TimeSpan.FromSeconds(5);

    private readonly Channel<Notification> work = Channel.CreateBounded<Notification>(
        new BoundedChannelOptions(MaxQueuedNotifications) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    // This instance's own commits, kept until their NOTIFY comes back so that they need not be read again. Only
    // a shortcut: an entry added after its NOTIFY was handled just waits to be evicted.
    private readonly ConcurrentDictionary<long, Message> ownMessages = new();
    private readonly ConcurrentQueue<long> ownMessageOrder = new();

    private readonly string listenerConnectionString = new NpgsqlConnectionStringBuilder(settings.Postgres!.ConnectionString)
    {
        ApplicationName = ListenerApplicationName,
        Pooling = false,
    }.ConnectionString;

    private volatile bool listening;

    // The Stopwatch timestamp from which changes may have been missed, or NoGap.
    private long gapSince = NoGap;

    public string? Lagging => listening ? null : "the change feed is not listening to the database (see the server log)";

    public void Stored(IReadOnlyList<Message> messages)
    {
        foreach (var message in messages)
        {
            if (ownMessages.TryAdd(message.Id, message))
            {
                ownMessageOrder.Enqueue(message.Id);
            }
        }
        while (ownMessages.Count > MaxOwnMessages && ownMessageOrder.TryDequeue(out var oldest))
        {
            ownMessages.TryRemove(oldest, out _);
        }
        // The ordered consumers hear of it from NOTIFY, in commit order with the other instances' commits.
        consumers.Stored(consumers.Immediate, messages);
    }

    public void Deleted(IReadOnlyList<DeletedMessage> deleted) => consumers.Deleted(consumers.Immediate, deleted);

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
        // From when changes may have gone unheard: at first, since streams may have opened before LISTEN took effect.
        var missedSince = Stopwatch.GetTimestamp();
        while (!stoppingToken.IsCancellationRequested)
        {
            // The last moment this connection was known to deliver: whatever came after may be lost with it.
            var lastHeard = Stopwatch.GetTimestamp();
            try
            {
                await using var connection = new NpgsqlConnection(listenerConnectionString);
                await connection.OpenAsync(stoppingToken);
                connection.Notification += (_, notification) =>
                {
                    lastHeard = Stopwatch.GetTimestamp();
                    Enqueue(new Notification(notification.Payload, lastHeard));
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {PostgresMessageStore.ChangeChannel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                }
                if (everConnected)
                {
                    logger.LogInformation("Change feed reconnected; catching up on what it missed");
                }
                everConnected = true;
                listening = true;
                MarkGap(missedSince);
                delay = TimeSpan.FromMilliseconds(200);
                while (true)
                {
                    // A quiet connection may be a dead one (a network cut sends nothing): probe it now and then.
                    if (!await connection.WaitAsync(ProbeInterval, stoppingToken))
                    {
                        await using var probe = new NpgsqlCommand("SELECT 1", connection);
                        await probe.ExecuteNonQueryAsync(stoppingToken);
                        lastHeard = Stopwatch.GetTimestamp();
                    }
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                if (listening)
                {
                    missedSince = lastHeard;
                }
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

    private void Enqueue(Notification notification)
    {
        if (!work.Writer.TryWrite(notification))
        {
            // Too far behind to queue more: the catch-up reads what this would have brought from the store.
            MarkGap(notification.ReceivedAt);
        }
    }

    /// <summary>Records that changes since <paramref name="since"/> may be missing, and wakes the processing loop.</summary>
    private void MarkGap(long since)
    {
        var current = Volatile.Read(ref gapSince);
        while (since < current)
        {
            var seen = Interlocked.CompareExchange(ref gapSince, since, current);
            if (seen == current)
            {
                break;
            }
            current = seen;
        }
        work.Writer.TryWrite(Notification.WakeUp);
    }

    private async Task ProcessAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await work.Reader.WaitToReadAsync(stoppingToken))
            {
                if (Volatile.Read(ref gapSince) != NoGap)
                {
                    await CatchUpAsync(stoppingToken);
                }
                else if (work.Reader.TryRead(out var notification) && notification.Payload is { } payload)
                {
                    await ApplyAsync(notification, payload, stoppingToken);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ApplyAsync(Notification notification, string payload, CancellationToken stoppingToken)
    {
        try
        {
            switch (ChangeNotification.Parse(payload))
            {
                case ChangeNotification.Parsed.Stored stored:
                    consumers.Stored(consumers.All, await FetchAsync(stored.Ids, stoppingToken));
                    break;
                case ChangeNotification.Parsed.Deleted deleted:
                    consumers.Deleted(consumers.All, [new DeletedMessage(deleted.Topic, deleted.Id)]);
                    break;
            }
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            Operations.ServerMetrics.DatabaseErrors.WithLabels("change_feed").Inc();
            logger.LogWarning("Change feed could not fetch new messages ({Reason}); catching up shortly", exception.Describe());
            MarkGap(notification.ReceivedAt);
            await Task.Delay(MaxRetryDelay, stoppingToken);
        }
    }

    /// <summary>The notified messages in id order: this instance's own from memory, the others' from the store.</summary>
    private async Task<IReadOnlyList<Message>> FetchAsync(long[] ids, CancellationToken cancellationToken)
    {
        var messages = new List<Message>(ids.Length);
        var missing = new List<long>();
        foreach (var id in ids)
        {
            if (ownMessages.TryRemove(id, out var message))
            {
                messages.Add(message);
            }
            else
            {
                missing.Add(id);
            }
        }
        if (missing.Count > 0)
        {
            messages.AddRange(await store.GetManyAsync([.. missing], cancellationToken));
        }
        messages.Sort((a, b) => a.Id.CompareTo(b.Id));
        return messages;
    }

    /// <summary>
    /// What is still queued is dropped, since the catch-up reads the store from before the oldest of it; what
    /// arrives while it runs is delivered afterwards, and the consumers skip what they already have.
    /// </summary>
    private async Task CatchUpAsync(CancellationToken stoppingToken)
    {
        var since = Interlocked.Exchange(ref gapSince, NoGap);
        while (work.Reader.TryRead(out var queued))
        {
            if (queued.Payload is not null)
            {
                since = Math.Min(since, queued.ReceivedAt);
            }
        }
        try
        {
            await consumers.CatchUpAsync(store, Stopwatch.GetElapsedTime(since) + CatchUpMargin, stoppingToken);
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            Operations.ServerMetrics.DatabaseErrors.WithLabels("change_feed").Inc();
            logger.LogWarning("Change feed could not catch up ({Reason}); trying again shortly", exception.Describe());
            MarkGap(since);
            await Task.Delay(MaxRetryDelay, stoppingToken);
        }
    }

    /// <summary>One NOTIFY payload and when it arrived; a null payload only wakes the processing loop.</summary>
    private sealed record Notification(string? Payload, long ReceivedAt)
    {
        public static readonly Notification WakeUp = new(null, 0);
    }
}
