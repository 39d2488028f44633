using MessageServer.Messages;
using MessageServer.Storage;

namespace MessageServer.ChangeFeed;

/// <summary>
/// The one path from "committed" to everything that reacts to a commit (the read windows, live subscribers):
/// whoever commits (the publisher, the delete endpoint, retention) reports it here once the commit succeeded, and
/// the feed hands it to every <see cref="IChangeConsumer"/>. In-process for one SQLite instance; LISTEN/NOTIFY
/// for PostgreSQL, where the commits of other instances arrive too.
/// </summary>
public interface IChangeFeed
{
    /// <summary>Messages this instance has just committed, in commit order. Never throws.</summary>
    void Stored(IReadOnlyList<Message> messages);

    /// <summary>Messages this instance has just deleted. Never throws.</summary>
    void Deleted(IReadOnlyList<DeletedMessage> deleted);

    /// <summary>Why live delivery is behind the database right now, or null when it is current.</summary>
    string? Lagging { get; }
}

/// <summary>Something that must hear of every commit, through the change feed and nothing else.</summary>
public interface IChangeConsumer
{
    /// <summary>
    /// True when the consumer needs each topic's messages in ascending id order without gaps (live subscribers):
    /// with several instances it hears of a commit only once the feed has it in commit order. False for a cache
    /// that orders for itself and wants this instance's own commits at once, so that a read after a 201 sees them.
    /// </summary>
    bool NeedsCommitOrder { get; }

    void OnStored(Message message);

    void OnDeleted(DeletedMessage deleted);

    /// <summary>
    /// The feed may have missed changes of the last <paramref name="missedFor"/> (its database connection dropped,
    /// or it could not keep up): recover what matters from the store. Errors propagate; the feed tries again.
    /// </summary>
    Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken);
}
