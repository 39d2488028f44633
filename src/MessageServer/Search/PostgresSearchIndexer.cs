using System.Diagnostics;
using MessageServer.Storage;
using Npgsql;

namespace MessageServer.Search;

/// <summary>
/// Moves queued messages (search_pending, filled by a trigger on every insert, see migration 0007) into
/// search_documents, one batch per transaction. Any number of instances run this against one database: each batch
/// takes queue entries FOR UPDATE SKIP LOCKED, so two indexers never take the same message and nobody waits;
/// an entry leaves the queue in the transaction that writes its document, so none is lost to a crash either.
/// When the queue is empty it indexes the messages stored before migration 0007, newest first (search_backfill).
/// </summary>
public sealed class PostgresSearchIndexer(
    NpgsqlDataSource dataSource, PostgresWordFrequencies frequencies, DatabaseState state, ILogger<PostgresSearchIndexer> logger)
    : SearchIndexer(state, logger)
{
    // A delete of a queued message waits for the batch that holds its entry: a batch takes ~0.1 s.
    internal override int BatchSize => 2000;

    // A batch takes ~0.1 s, but on a database busy with a large backlog (and the searches that fold it) it has run
    // past the usual 15 s: cancelled, it was taken again and again for a minute. Better finished late than redone.
    private const int BatchTimeoutSeconds = 120;

    private const int MergeAtPending = 5000;
    private static readonly TimeSpan MergeAfter = TimeSpan.FromSeconds(1);

    private readonly Stopwatch sinceStart = Stopwatch.StartNew();

    // What this instance added to GIN's pending list since it last merged it (one indexing loop per instance).
    private int pendingInIndex;
    private long firstPendingAt;

    // One statement, so one snapshot: the queue entries it deletes and the messages it reads are seen alike. A
    // message deleted meanwhile simply has no row to join (its delete trigger removes the entry, see 0007).
    private const string IndexPendingSql =
        """
        WITH taken AS (
            DELETE FROM search_pending
            WHERE id IN (SELECT id FROM search_pending ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
            RETURNING id),
        indexed AS (
            INSERT INTO search_documents (id, topic, document)
            SELECT m.id, m.topic, message_search_document(m.author, m.text) FROM taken JOIN messages m ON m.id = taken.id
            ON CONFLICT (id) DO NOTHING)
        SELECT count(*)::int FROM taken
        """;

    // The backfill row is taken SKIP LOCKED (one instance at a time, nobody queues); its messages FOR KEY SHARE, so
    // a delete of one of them waits for this commit and its trigger then finds the document to remove.
    private const string IndexBackfillSql =
        """
        WITH progress AS (SELECT next_below FROM search_backfill WHERE next_below > 0 FOR UPDATE SKIP LOCKED),
        batch AS (
            SELECT m.id, m.topic, m.author, m.text FROM messages m
            WHERE m.id < (SELECT next_below FROM progress)
            ORDER BY m.id DESC LIMIT $1 FOR KEY SHARE OF m),
        indexed AS (
            INSERT INTO search_documents (id, topic, document)
            SELECT id, topic, message_search_document(author, text) FROM batch
            ON CONFLICT (id) DO NOTHING),
        advanced AS (
            UPDATE search_backfill SET next_below = coalesce((SELECT min(id) FROM batch), 0)
            WHERE EXISTS (SELECT 1 FROM progress))
        SELECT (SELECT count(*)::int FROM progress), (SELECT count(*)::int FROM batch)
        """;

    internal override async Task<int> IndexBatchAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using (var pending = new NpgsqlCommand(IndexPendingSql, connection) { CommandTimeout = BatchTimeoutSeconds })
        {
            pending.Parameters.Add(new NpgsqlParameter<int> { TypedValue = BatchSize });
            // Planning this statement took 3 to 9 ms, a tenth of running it for a thousand messages: prepared, it is
            // planned once per connection (Npgsql keeps it across pooled uses).
            await pending.PrepareAsync(cancellationToken);
            if (await pending.ExecuteScalarAsync(cancellationToken) is int taken and > 0)
            {
                await MergeIntoIndexWhenDueAsync(connection, taken, cancellationToken);
                return taken;
            }
        }
        await using var backfill = new NpgsqlCommand(IndexBackfillSql, connection) { CommandTimeout = BatchTimeoutSeconds };
        backfill.Parameters.Add(new NpgsqlParameter<int> { TypedValue = BatchSize });
        int inProgress, indexed;
        await using (var reader = await backfill.ExecuteReaderAsync(cancellationToken))
        {
            await reader.ReadAsync(cancellationToken);
            (inProgress, indexed) = (reader.GetInt32(0), reader.GetInt32(1));
        }
        if (inProgress == 0 || indexed > 0)
        {
            await MergeIntoIndexWhenDueAsync(connection, indexed, cancellationToken);
        }
        else
        {
            // The backfill is done: what is pending goes into the index now, before the statistics are taken.
            await MergeIntoIndexAsync(connection, cancellationToken);
            // Searches pick between the GIN index and the newest documents by how common each word is, by the
            // statistics: now that the stored messages are all indexed, let them know.
            await using var analyze = new NpgsqlCommand("ANALYZE search_documents", connection) { CommandTimeout = 0 };
            await analyze.ExecuteNonQueryAsync(cancellationToken);
            frequencies.Invalidate();
            Logger.LogInformation("Search index built: every message stored before the upgrade is indexed ({Seconds:0.0} s after start)", sinceStart.Elapsed.TotalSeconds);
        }
        return indexed;
    }

    /// <summary>
    /// GIN adds new entries to a pending list that every search reads through, entry by entry, until it is merged
    /// into the index (by autovacuum, or once it outgrows gin_pending_list_limit, 4 MB): with a million documents
    /// indexed, a rare word's lookup took 0.7 ms with 2,000 documents pending, 1.7 ms with 10,000, against 0.05 with
    /// none. Merging costs far less per document the more it merges at once (17 µs after every batch of 2,000, 7 µs
    /// after 10,000, a third of all the indexing costs): so the indexer merges once 5,000 documents are pending, or a
    /// second after it added the first of them, whichever comes first.
    /// </summary>
    private async Task MergeIntoIndexWhenDueAsync(NpgsqlConnection connection, int added, CancellationToken cancellationToken)
    {
        if (added > 0 && pendingInIndex == 0)
        {
            firstPendingAt = Stopwatch.GetTimestamp();
        }
        pendingInIndex += added;
        if (pendingInIndex >= MergeAtPending || (pendingInIndex > 0 && Stopwatch.GetElapsedTime(firstPendingAt) >= MergeAfter))
        {
            await MergeIntoIndexAsync(connection, cancellationToken);
        }
    }

    private async Task MergeIntoIndexAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var merge = new NpgsqlCommand("SELECT gin_clean_pending_list('search_documents_document'::regclass)", connection)
        {
            CommandTimeout = BatchTimeoutSeconds,
        };
        await merge.ExecuteNonQueryAsync(cancellationToken);
        pendingInIndex = 0;
    }
}
