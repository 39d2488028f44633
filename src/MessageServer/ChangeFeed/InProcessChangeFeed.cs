using MessageServer.Messages;

namespace MessageServer.ChangeFeed;

/// <summary>
/// The change feed of a single instance (embedded SQLite, which one instance serves alone): every commit is made
/// in this process, so its report is the whole feed. Messages are reported in commit order, since the group-commit
/// writer is the only one that stores them, and every consumer hears of them at once.
/// </summary>
public sealed class InProcessChangeFeed(ChangeConsumers consumers) : IChangeFeed
{
    public void Stored(IReadOnlyList<Message> messages) => consumers.Stored(consumers.All, messages);

    public void Deleted(IReadOnlyList<DeletedMessage> deleted) => consumers.Deleted(consumers.All, deleted);

    public string? Lagging => null;
}
