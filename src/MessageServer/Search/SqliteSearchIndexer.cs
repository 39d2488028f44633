using MessageServer.Storage;
using MessageServer.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace MessageServer.Search;

/// <summary>
/// Adds stored messages to the FTS5 table messages_search in batches, in id order, and records in search_progress
/// how far it got (migration 0007): a batch of a thousand costs FTS5 far less per message than one insert in every
/// publish transaction did. A search that finds messages above that mark has them indexed first
/// (<see cref="CatchUpAsync"/>), so what was published before the search is always found.
/// </summary>
public sealed class SqliteSearchIndexer(SqliteMessageStore store, DatabaseState state, ILogger<SqliteSearchIndexer> logger)
    : SearchIndexer(state, logger)
{
    // A batch is one new FTS5 segment, and fewer, larger segments mean less merging: 10,000 messages cost ~3.9 µs
    // each against ~4.8 at 2,000, and hold the write lock (publishes wait) for ~40 ms at most.
    internal override int BatchSize => 10_000;

    // One batch at a time in this process; SQLite serves one instance, so no other indexer exists.
    private readonly SemaphoreSlim turn = new(1, 1);

    internal override async Task<int> IndexBatchAsync(CancellationToken cancellationToken)
    {
        await turn.WaitAsync(cancellationToken);
        try
        {
            return (await IndexNextBatchAsync(cancellationToken)).Indexed;
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>Indexes every message with an id up to <paramref name="throughId"/> that is not indexed yet.</summary>
    public async Task CatchUpAsync(long throughId, CancellationToken cancellationToken)
    {
        await turn.WaitAsync(cancellationToken);
        try
        {
            // A search waiting here behind another one usually finds the work already done.
            while ((await IndexNextBatchAsync(cancellationToken)) is { Indexed: > 0, IndexedThrough: var through } && through < throughId)
            {
            }
        }
        finally
        {
            turn.Release();
        }
    }

    /// <summary>The highest message id and how far the index goes: the messages in between are not indexed yet.</summary>
    public static async Task<(long LatestId, long IndexedThrough)> ProgressAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new SqliteCommand(
            "SELECT (SELECT coalesce(max(id), 0) FROM messages), (SELECT indexed_through FROM search_progress)", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    private Task<(int Indexed, long IndexedThrough)> IndexNextBatchAsync(CancellationToken cancellationToken) =>
        store.InWriteTurnAsync(() => IndexNextBatchInTurnAsync(cancellationToken), cancellationToken);

    private async Task<(int Indexed, long IndexedThrough)> IndexNextBatchInTurnAsync(CancellationToken cancellationToken)
    {
        await using var connection = await store.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var next = new SqliteCommand(
            """
            SELECT (SELECT indexed_through FROM search_progress), max(id), count(*)
            FROM (SELECT id FROM messages WHERE id > (SELECT indexed_through FROM search_progress) ORDER BY id LIMIT $batch)
            """, connection, transaction);
        next.Parameters.AddWithValue("$batch", BatchSize);
        long from, through;
        int count;
        await using (var reader = await next.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (from, count) = (reader.GetInt64(0), reader.GetInt32(2));
            if (count == 0)
            {
                return (0, from);
            }
            through = reader.GetInt64(1);
        }
        await using var index = new SqliteCommand(
            """
            INSERT INTO messages_search (rowid, author, text) SELECT id, author, text FROM messages WHERE id > $from AND id <= $through;
            UPDATE search_progress SET indexed_through = $through;
            """, connection, transaction);
        index.Parameters.AddWithValue("$from", from);
        index.Parameters.AddWithValue("$through", through);
        await index.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return (count, through);
    }
}
