using MessageServer.Messages;

namespace MessageServer.Storage;

/// <summary>
/// The statements whose shape does not depend on the database, written once for both stores. Parameters are
/// positional, $1, $2, ...: PostgreSQL's own form, which SQLite reads as named parameters "$1", "$2", ...
/// </summary>
internal static class MessageQueries
{
    /// <summary>A page of one topic (see <see cref="PageQuery"/>): $1 topic, $2 lower bound, $3 upper bound (both exclusive), $4 limit.</summary>
    public static string Page(string columns, PageQuery query) =>
        $"SELECT {columns} FROM messages WHERE topic = $1 AND id > $2 AND id < $3 ORDER BY id {(query.Ascending ? "ASC" : "DESC")} LIMIT $4";

    /// <summary>
    /// The ids retention removes, at most $3 of them: older than $1 (compared with <paramref name="createdColumn"/>)
    /// and/or beyond the newest $2 of their topic.
    /// </summary>
    public static string RetainedNoLonger(string createdColumn, bool byAge, bool byCount)
    {
        var doomed = new List<string>();
        if (byAge)
        {
            doomed.Add($"SELECT id FROM messages WHERE {createdColumn} < $1");
        }
        if (byCount)
        {
            doomed.Add("SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY topic ORDER BY id DESC) AS newer FROM messages) ranked WHERE newer > $2");
        }
        return $"{string.Join(" UNION ", doomed)} LIMIT $3";
    }

    /// <summary>The tombstones of one topic: $1 topic, $2 the highest id of interest, $3 the earliest deletion time of interest.</summary>
    public static string DeletedSince(string deletedColumn) =>
        $"SELECT id FROM deleted_messages WHERE topic = $1 AND id <= $2 AND {deletedColumn} >= $3 ORDER BY id";

    /// <summary>Tombstones older than $1 are forgotten (see <see cref="Tombstones.KeptFor"/>).</summary>
    public static string ForgetTombstones(string deletedColumn) => $"DELETE FROM deleted_messages WHERE {deletedColumn} < $1";
}

/// <summary>
/// Every deleted message leaves a tombstone (its id and topic, written by a trigger in the deleting transaction),
/// so that a client resuming a stream, or an instance whose change feed was cut off, learns of deletes it missed.
/// </summary>
public static class Tombstones
{
    /// <summary>How long a tombstone is kept: as long as an Idempotency-Key, the other thing a returning client relies on.</summary>
    public static readonly TimeSpan KeptFor = Idempotency.Window;

    /// <summary>The earliest deletion time of interest when changes of the last <paramref name="within"/> may have been missed.</summary>
    public static DateTime Since(TimeSpan within) => DateTime.UtcNow - (within < KeptFor ? within : KeptFor);
}
