using MessageServer.Messages;
using MessageServer.Streaming;

namespace MessageServer.Storage.Sqlite;

/// <summary>
/// The single-instance change feed: the embedded store reports each commit in-process. SQLite mode serves
/// one instance only; several instances need PostgreSQL.
/// </summary>
public sealed class SqliteChangeFeed(SqliteMessageStore store, MessageHub hub, TopicWindows windows) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        store.Stored += OnStored;
        store.Deleted += OnDeleted;
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        store.Stored -= OnStored;
        store.Deleted -= OnDeleted;
        return Task.CompletedTask;
    }

    private void OnStored(IReadOnlyList<Message> messages)
    {
        foreach (var message in messages)
        {
            windows.Add(message);
            hub.Deliver(message);
        }
    }

    private void OnDeleted(string topic, long id)
    {
        windows.Remove(topic, id);
        hub.DeliverDeleted(topic, id);
    }
}
