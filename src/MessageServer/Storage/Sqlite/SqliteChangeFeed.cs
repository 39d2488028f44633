using MessageServer.Streaming;

namespace MessageServer.Storage.Sqlite;

/// <summary>
/// The single-instance change feed: the embedded store reports each commit in-process. SQLite mode serves
/// one instance only; several instances need PostgreSQL.
/// </summary>
public sealed class SqliteChangeFeed(SqliteMessageStore store, MessageHub hub) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        store.Stored += OnStored;
        store.Deleted += hub.DeliverDeleted;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        store.Stored -= OnStored;
        store.Deleted -= hub.DeliverDeleted;
        return Task.CompletedTask;
    }

    private void OnStored(IReadOnlyList<Messages.Message> messages)
    {
        foreach (var message in messages)
        {
            hub.Deliver(message);
        }
    }
}
