using DbUp;
using MessageServer.Configuration;
using MessageServer.Messages;
using Npgsql;

namespace MessageServer.Storage.Postgres;

/// <summary>
/// The store shared by every instance. SQL only: each commit that stores or deletes messages also sends a NOTIFY
/// in its own transaction, which the change feed of every instance listens to.
/// </summary>
public sealed class PostgresMessageStore(NpgsqlDataSource dataSource, ServerSettings settings, ILoggerFactory loggerFactory) : IMessageStore, IAsyncDisposable
{
    // The group-commit writer's own connection, kept open: publishes never wait for, or fail for lack of, a
    // connection that readers and streams have taken (a database's connection limit is shared by every instance).
    private readonly NpgsqlDataSource writer = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(settings.Postgres!.ConnectionString)
    {
        MinPoolSize = 1,
        MaxPoolSize = 2,
        ApplicationName = "message-server-writer",
    });

    public ValueTask DisposeAsync() => writer.DisposeAsync();

    // Any constants work; they only have to differ from the per-topic keys, which are 64-bit hashes.
    private const long MigrationLockKey = 0x6d65_7373_6167_6573;
    internal const long RetentionLockKey = 0x7265_7465_6e74_696f;

    /// <summary>The NOTIFY channel every instance listens on for stored and deleted messages.</summary>
    public const string ChangeChannel = "message_events";

    private const string Columns = "id, topic, author, text, created_at";
    private const string LockSql = "SELECT pg_advisory_xact_lock(k) FROM unnest($1::bigint[]) AS k";

    // One multi-row insert of a batch; its parameters come from AddBatchColumns. unnest feeds rows in array order
    // and identity values are drawn per row, so id order is batch order.
    private const string InsertSql =
        $"INSERT INTO messages (topic, author, text) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) RETURNING {Columns}";

    // Above this many ids a NOTIFY payload could pass PostgreSQL's 8000-byte limit; larger batches are split.
    private const int MaxSingleNotifyBatch = 300;

    // The NOTIFY of a delete: "d,ID,TOPIC" (see ChangeNotification) for each row of a CTE named deleted.
    private const string NotifyDeleted = $"pg_notify('{ChangeChannel}', 'd,' || id || ',' || topic)";

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        // DbUp does not serialise concurrent runs itself: instances starting together queue on this lock,
        // and the later ones find nothing left to do.
        await using var lockConnection = await dataSource.OpenConnectionAsync(cancellationToken);
        await ExecuteAsync(lockConnection, "SELECT pg_advisory_lock($1)", MigrationLockKey, cancellationToken);
        try
        {
            Migrations.Apply(DeployChanges.To.PostgresqlDatabase(new DbUp.Postgresql.PostgresqlConnectionManager(dataSource)), "Postgres", loggerFactory);
        }
        finally
        {
            await ExecuteAsync(lockConnection, "SELECT pg_advisory_unlock($1)", MigrationLockKey, CancellationToken.None);
        }
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT 1");
        return await command.ExecuteScalarAsync(cancellationToken) is 1;
    }

    public async Task<IReadOnlyList<PublishOutcome>> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        var keys = Idempotency.KeysOf(batch);
        return keys.Length == 0 && batch.Count <= MaxSingleNotifyBatch
            ? await AppendInOneRoundTripAsync(batch, cancellationToken)
            : await AppendWithKeysAsync(batch, keys, cancellationToken);
    }

    /// <summary>
    /// The common case, no idempotency keys: the topic locks and the insert that also sends its NOTIFY go to the
    /// server as one batch, which PostgreSQL runs as one implicit transaction committed at the batch's end: one
    /// round trip per group commit. The outcome counts only once the batch's last reply (ReadyForQuery, sent
    /// after the commit is durable) has arrived.
    /// </summary>
    private async Task<IReadOnlyList<PublishOutcome>> AppendInOneRoundTripAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        await using var connection = await writer.OpenConnectionAsync(cancellationToken);
        await using var commands = new NpgsqlBatch(connection);
        var lockCommand = new NpgsqlBatchCommand(LockSql);
        lockCommand.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = LockKeys(batch, []) });
        var insert = new NpgsqlBatchCommand(
            $"""
            WITH inserted AS ({InsertSql}),
            announced AS (
                SELECT pg_notify('{ChangeChannel}', 'm,' || string_agg(id::text, ',' ORDER BY id)) AS sent FROM inserted)
            SELECT {Columns} FROM inserted CROSS JOIN announced
            """);
        AddBatchColumns(insert.Parameters, batch);
        commands.BatchCommands.Add(lockCommand);
        commands.BatchCommands.Add(insert);
        var created = new List<Message>(batch.Count);
        await using (var reader = await commands.ExecuteReaderAsync(cancellationToken))
        {
            await reader.NextResultAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                created.Add(ReadMessage(reader));
            }
            // False only after ReadyForQuery, i.e. after the commit; a failed commit throws here instead.
            while (await reader.NextResultAsync(cancellationToken))
            {
            }
        }
        return created.OrderBy(m => m.Id).Select(PublishOutcome (m) => new PublishOutcome.Appended(m)).ToList();
    }

    private async Task<IReadOnlyList<PublishOutcome>> AppendWithKeysAsync(IReadOnlyList<NewMessage> batch, string[] keys, CancellationToken cancellationToken)
    {
        await using var connection = await writer.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);

        await using (var lockCommand = new NpgsqlCommand(LockSql, connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = LockKeys(batch, keys) });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken);
        }

        var decisions = Idempotency.Plan(batch, keys.Length == 0 ? new Dictionary<string, (string, long)>() : await StoredKeysAsync(connection, transaction, keys, cancellationToken));
        var fresh = batch.Where((_, i) => decisions[i].Kind == Idempotency.Kind.New).ToList();
        var created = fresh.Count == 0 ? [] : await InsertAsync(connection, transaction, fresh, cancellationToken);
        if (keys.Length > 0)
        {
            await RememberKeysAsync(connection, transaction, fresh, created, cancellationToken);
        }
        var replayIds = decisions.Where(d => d.Kind == Idempotency.Kind.ReplayCommitted).Select(d => d.Target).Distinct().ToArray();
        var replayed = new Dictionary<long, Message>();
        if (replayIds.Length > 0)
        {
            await using var read = new NpgsqlCommand($"SELECT {Columns} FROM messages WHERE id = ANY($1)", connection, transaction);
            read.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = replayIds });
            replayed = (await ReadMessagesAsync(read, cancellationToken)).ToDictionary(m => m.Id);
        }

        if (created.Count > 0)
        {
            // The change feed learns of the batch from NOTIFY, sent at commit and in commit order.
            await using var notify = new NpgsqlCommand($"SELECT pg_notify('{ChangeChannel}', payload) FROM unnest($1::text[]) AS payload", connection, transaction);
            notify.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = ChangeFeed.ChangeNotification.ForStored(created.Select(m => m.Id)) });
            await notify.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return Idempotency.Assemble(decisions, created, replayed);
    }

    /// <summary>
    /// Per-topic locks held from id allocation to commit make each topic's ids commit in ascending order, across
    /// all instances; per-key locks make racing retries of one Idempotency-Key take turns. Taking them in key
    /// order keeps two batches from deadlocking.
    /// </summary>
    private static long[] LockKeys(IReadOnlyList<NewMessage> batch, string[] idempotencyKeys) =>
        batch.Select(m => TopicLockKey(m.Topic))
            .Concat(idempotencyKeys.Select(key => TopicLockKey("idempotency:" + key)))
            .Distinct().Order().ToArray();

    private static async Task<List<Message>> InsertAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, List<NewMessage> fresh, CancellationToken cancellationToken)
    {
        await using var insert = new NpgsqlCommand(InsertSql, connection, transaction);
        AddBatchColumns(insert.Parameters, fresh);
        return (await ReadMessagesAsync(insert, cancellationToken)).OrderBy(m => m.Id).ToList();
    }

    /// <summary>The parameters of <see cref="InsertSql"/>: the batch's topics, authors and texts as arrays.</summary>
    private static void AddBatchColumns(NpgsqlParameterCollection parameters, IReadOnlyList<NewMessage> batch)
    {
        parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.Select(m => m.Topic).ToArray() });
        parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.Select(m => m.Author).ToArray() });
        parameters.Add(new NpgsqlParameter<string[]> { TypedValue = batch.Select(m => m.Text).ToArray() });
    }

    /// <summary>Keys used within <see cref="Idempotency.Window"/> whose message still exists.</summary>
    private static async Task<Dictionary<string, (string, long)>> StoredKeysAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string[] keys, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT k.key, k.request_hash, k.message_id FROM idempotency_keys k JOIN messages m ON m.id = k.message_id
            WHERE k.key = ANY($1) AND k.created_at > now() - $2
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = keys });
        command.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = Idempotency.Window });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var stored = new Dictionary<string, (string, long)>(StringComparer.Ordinal);
        while (await reader.ReadAsync(cancellationToken))
        {
            stored[reader.GetString(0)] = (reader.GetString(1), reader.GetInt64(2));
        }
        return stored;
    }

    private static async Task RememberKeysAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, List<NewMessage> fresh, List<Message> created, CancellationToken cancellationToken)
    {
        var keyed = fresh.Select((message, i) => (message.Idempotency, created[i].Id)).Where(k => k.Idempotency is not null).ToList();
        await using var remember = new NpgsqlCommand(
            """
            INSERT INTO idempotency_keys (key, request_hash, message_id) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])
            ON CONFLICT (key) DO UPDATE SET request_hash = EXCLUDED.request_hash, message_id = EXCLUDED.message_id, created_at = now()
            """, connection, transaction);
        remember.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = keyed.Select(k => k.Idempotency!.Key).ToArray() });
        remember.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = keyed.Select(k => k.Idempotency!.RequestHash).ToArray() });
        remember.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = keyed.Select(k => k.Id).ToArray() });
        await remember.ExecuteNonQueryAsync(cancellationToken);
        // Forget expired keys a few at a time, so the table stays small without a job of its own.
        await using var forget = new NpgsqlCommand(
            "DELETE FROM idempotency_keys WHERE key IN (SELECT key FROM idempotency_keys WHERE created_at < now() - $1 LIMIT 100)",
            connection, transaction);
        forget.Parameters.Add(new NpgsqlParameter<TimeSpan> { TypedValue = Idempotency.Window });
        await forget.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<Message?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM messages WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        var messages = await ReadMessagesAsync(command, cancellationToken);
        return messages.Count == 0 ? null : messages[0];
    }

    public async Task<IReadOnlyList<Message>> ListAsync(string topic, PageQuery query, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(MessageQueries.Page(Columns, query));
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = query.LowerExclusive });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = query.UpperExclusive });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = query.Limit });
        var messages = await ReadMessagesAsync(command, cancellationToken);
        if (!query.Ascending)
        {
            messages.Reverse();
        }
        return messages;
    }

    /// <summary>Messages by id (those that still exist): what the change feed fetches for a notification.</summary>
    public async Task<IReadOnlyList<Message>> GetManyAsync(long[] ids, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM messages WHERE id = ANY($1)");
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = ids });
        return await ReadMessagesAsync(command, cancellationToken);
    }

    public async Task<long> LatestIdAsync(string topic, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT coalesce(max(id), 0) FROM messages WHERE topic = $1");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<bool> DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"""
            WITH deleted AS (DELETE FROM messages WHERE id = $1 RETURNING id, topic)
            SELECT count({NotifyDeleted}) FROM deleted
            """, connection, transaction);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
        var deleted = (long)(await command.ExecuteScalarAsync(cancellationToken))! > 0;
        await ForgetOldTombstonesAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    public async Task<IReadOnlyList<long>> DeletedAsync(string topic, long throughId, TimeSpan within, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(MessageQueries.DeletedSince("deleted_at"));
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = topic });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = throughId });
        command.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = Tombstones.Since(within) });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<long>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }

    private static async Task ForgetOldTombstonesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        await using var forget = new NpgsqlCommand(MessageQueries.ForgetTombstones("deleted_at"), connection, transaction);
        forget.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = DateTime.UtcNow - Tombstones.KeptFor });
        await forget.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<TopicSummary>> ListTopicsAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT topic, count(*), max(created_at) FROM messages GROUP BY topic ORDER BY topic");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var topics = new List<TopicSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            topics.Add(new TopicSummary(reader.GetString(0), reader.GetInt64(1), reader.GetFieldValue<DateTime>(2)));
        }
        return topics;
    }

    public async Task<IReadOnlyList<DeletedMessage>?> ApplyRetentionAsync(DateTime? olderThan, int? maxPerTopic, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        // One instance at a time: the others skip this round instead of queueing behind it.
        await using (var tryLock = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock($1)", connection, transaction))
        {
            tryLock.Parameters.Add(new NpgsqlParameter<long> { TypedValue = RetentionLockKey });
            if (await tryLock.ExecuteScalarAsync(cancellationToken) is not true)
            {
                return null;
            }
        }
        await using var delete = new NpgsqlCommand(
            $"""
            WITH doomed AS ({MessageQueries.RetainedNoLonger("created_at", olderThan is not null, maxPerTopic is not null)}),
                 deleted AS (DELETE FROM messages USING doomed WHERE messages.id = doomed.id RETURNING messages.id, messages.topic)
            SELECT id, topic, {NotifyDeleted} FROM deleted
            """, connection, transaction);
        delete.Parameters.Add(new NpgsqlParameter<DateTime> { TypedValue = olderThan ?? DateTime.MinValue.ToUniversalTime() });
        delete.Parameters.Add(new NpgsqlParameter<int> { TypedValue = maxPerTopic ?? int.MaxValue });
        delete.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        var deleted = new List<DeletedMessage>();
        await using (var reader = await delete.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                deleted.Add(new DeletedMessage(reader.GetString(1), reader.GetInt64(0)));
            }
        }
        await ForgetOldTombstonesAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    /// <summary>A stable 64-bit key per topic (FNV-1a over UTF-16), the same on every instance and version.</summary>
    internal static long TopicLockKey(string topic)
    {
        var hash = 14695981039346656037UL;
        foreach (var character in topic)
        {
            hash = (hash ^ character) * 1099511628211UL;
        }
        return unchecked((long)hash);
    }

    private static async Task<List<Message>> ReadMessagesAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(ReadMessage(reader));
        }
        return messages;
    }

    /// <summary>One row of <see cref="Columns"/>.</summary>
    private static Message ReadMessage(NpgsqlDataReader reader) =>
        new(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTime>(4));

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, long key, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = key });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
