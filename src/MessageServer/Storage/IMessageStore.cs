using MessageServer.Messages;

namespace MessageServer.Storage;

/// <summary>
/// Where messages live. Two implementations (PostgreSQL, SQLite) pass one shared contract test suite.
/// </summary>
public interface IMessageStore
{
    /// <summary>Creates or upgrades the schema. Safe when several instances start at once.</summary>
    Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>True when the database answers a trivial query.</summary>
    Task<bool> PingAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Stores a batch in one transaction and returns each item's outcome in the batch's order: the new message,
    /// the original one for a repeated Idempotency-Key, or a key conflict. Within a topic, ids become visible in
    /// ascending order (a smaller id never commits after a larger one).
    /// </summary>
    Task<IReadOnlyList<PublishOutcome>> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken);

    Task<Message?> GetAsync(long id, CancellationToken cancellationToken);

    /// <summary>Returns a page of a topic in ascending id order; see <see cref="PageQuery"/>.</summary>
    Task<IReadOnlyList<Message>> ListAsync(string topic, PageQuery query, CancellationToken cancellationToken);

    /// <summary>The highest id in a topic, or 0 when it has none: where a live stream without a cursor starts.</summary>
    Task<long> LatestIdAsync(string topic, CancellationToken cancellationToken);

    /// <summary>Deletes one message; its tombstone (see <see cref="Tombstones"/>) is written in the same transaction.</summary>
    Task<bool> DeleteAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// The ids of a topic's messages at or below <paramref name="throughId"/> deleted within the last
    /// <paramref name="within"/> (at most <see cref="Tombstones.KeptFor"/>), in ascending order.
    /// </summary>
    Task<IReadOnlyList<long>> DeletedAsync(string topic, long throughId, TimeSpan within, CancellationToken cancellationToken);

    Task<IReadOnlyList<TopicSummary>> ListTopicsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Removes up to <paramref name="limit"/> messages the policy no longer keeps (leaving tombstones) and returns
    /// them, or null when another instance is applying retention right now.
    /// </summary>
    Task<IReadOnlyList<DeletedMessage>?> ApplyRetentionAsync(DateTime? olderThan, int? maxPerTopic, int limit, CancellationToken cancellationToken);
}

/// <summary>
/// A page of one topic. With <see cref="After"/> it is the first <see cref="Limit"/> messages above that id
/// (below <see cref="Before"/> when that is given too); with only <see cref="Before"/> the last
/// <see cref="Limit"/> below it; with neither the latest <see cref="Limit"/>.
/// </summary>
public sealed record PageQuery(int Limit, long? After, long? Before)
{
    public bool Ascending => After is not null;
    public long LowerExclusive => After ?? 0;
    public long UpperExclusive => Before ?? long.MaxValue;
}
