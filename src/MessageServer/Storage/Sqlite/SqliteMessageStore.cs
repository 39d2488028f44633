using DbUp;
using MessageServer.Messages;
using Microsoft.Data.Sqlite;

namespace MessageServer.Storage.Sqlite;

/// <summary>
/// The embedded store for a single instance. Writes come from one publisher at a time (the group-commit
/// queue), so SQLite's single writer is no bottleneck; WAL lets reads run beside it. SQL only: what a commit
/// means to others is reported by its caller to the change feed.
/// </summary>
public sealed class SqliteMessageStore(string path, ILoggerFactory loggerFactory) : IMessageStore
{
    private const string Columns = "id, topic, author, text, created_at_us";

    private readonly string connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWriteCreate,
        Pooling = true,
        DefaultTimeout = 15,
    }.ToString();

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var directory = Path.GetDirectoryName(Path.GetFullPath(path));
        if (directory is not null)
        {
            Directory.CreateDirectory(directory);
        }
        await using (var connection = await OpenAsync(cancellationToken))
        {
            // WAL is a property of the file: set once, it holds for every later connection.
            await using var command = new SqliteCommand("PRAGMA journal_mode = WAL", connection);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
        Migrations.Apply(DeployChanges.To.SqliteDatabase(connectionString), "Sqlite", loggerFactory);
    }

    public async Task<bool> PingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand("SELECT 1", connection);
        return await command.ExecuteScalarAsync(cancellationToken) is 1L;
    }

    /// <summary>
    /// Taken by the publishes' group commit and the search indexer around their write transactions. SQLite lets one
    /// writer at a time in; one that finds the file locked polls in sleeps of up to 25–100 ms (busy_timeout), and the
    /// publishes waiting behind an index batch would lose that much after each one. Taking turns here in the
    /// process hands the file over the moment the other is done.
    /// </summary>
    // Lives as long as the store; a SemaphoreSlim whose wait handle is never asked for holds nothing to dispose.
    private SemaphoreSlim WriteTurn { get; } = new(1, 1);

    /// <summary>Runs <paramref name="write"/> (one write transaction) in the process's turn for the write lock.</summary>
    internal async Task<T> InWriteTurnAsync<T>(Func<Task<T>> write, CancellationToken cancellationToken)
    {
        await WriteTurn.WaitAsync(cancellationToken);
        try
        {
            return await write();
        }
        finally
        {
            WriteTurn.Release();
        }
    }

    public Task<IReadOnlyList<PublishOutcome>> AppendAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken) =>
        InWriteTurnAsync(() => AppendInTurnAsync(batch, cancellationToken), cancellationToken);

    private async Task<IReadOnlyList<PublishOutcome>> AppendInTurnAsync(IReadOnlyList<NewMessage> batch, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        var now = ToUnixMicroseconds(DateTime.UtcNow);
        var keysExpireBefore = now - (long)Idempotency.Window.TotalMicroseconds;
        var keys = Idempotency.KeysOf(batch);
        var stored = new Dictionary<string, (string, long)>(StringComparer.Ordinal);
        if (keys.Length > 0)
        {
            await using var lookup = new SqliteCommand(
                """
                SELECT k.key, k.request_hash, k.message_id FROM idempotency_keys k JOIN messages m ON m.id = k.message_id
                WHERE k.key = $key AND k.created_at_us > $since
                """, connection, transaction);
            var keyParameter = lookup.Parameters.Add("$key", SqliteType.Text);
            lookup.Parameters.AddWithValue("$since", keysExpireBefore);
            foreach (var key in keys)
            {
                keyParameter.Value = key;
                await using var reader = await lookup.ExecuteReaderAsync(cancellationToken);
                if (await reader.ReadAsync(cancellationToken))
                {
                    stored[key] = (reader.GetString(1), reader.GetInt64(2));
                }
            }
        }
        var decisions = Idempotency.Plan(batch, stored);

        await using var insert = new SqliteCommand(
            $"INSERT INTO messages (topic, author, text, created_at_us) VALUES ($topic, $author, $text, $created) RETURNING {Columns}",
            connection, transaction);
        var topic = insert.Parameters.Add("$topic", SqliteType.Text);
        var author = insert.Parameters.Add("$author", SqliteType.Text);
        var text = insert.Parameters.Add("$text", SqliteType.Text);
        var created = insert.Parameters.Add("$created", SqliteType.Integer);
        await using var remember = new SqliteCommand(
            "INSERT OR REPLACE INTO idempotency_keys (key, request_hash, message_id, created_at_us) VALUES ($key, $hash, $id, $now)",
            connection, transaction);
        var rememberKey = remember.Parameters.Add("$key", SqliteType.Text);
        var rememberHash = remember.Parameters.Add("$hash", SqliteType.Text);
        var rememberId = remember.Parameters.Add("$id", SqliteType.Integer);
        remember.Parameters.AddWithValue("$now", now);
        var fresh = new List<Message>();
        for (var i = 0; i < batch.Count; i++)
        {
            if (decisions[i].Kind != Idempotency.Kind.New)
            {
                continue;
            }
            var message = batch[i];
            topic.Value = message.Topic;
            author.Value = message.Author;
            text.Value = message.Text;
            created.Value = ToUnixMicroseconds(DateTime.UtcNow);
            var row = (await ReadMessagesAsync(insert, cancellationToken))[0];
            fresh.Add(row);
            if (message.Idempotency is { } key)
            {
                rememberKey.Value = key.Key;
                rememberHash.Value = key.RequestHash;
                rememberId.Value = row.Id;
                await remember.ExecuteNonQueryAsync(cancellationToken);
            }
        }
        var replayed = new Dictionary<long, Message>();
        foreach (var id in decisions.Where(d => d.Kind == Idempotency.Kind.ReplayCommitted).Select(d => d.Target).Distinct())
        {
            await using var read = new SqliteCommand($"SELECT {Columns} FROM messages WHERE id = $id", connection, transaction);
            read.Parameters.AddWithValue("$id", id);
            replayed[id] = (await ReadMessagesAsync(read, cancellationToken))[0];
        }
        if (keys.Length > 0)
        {
            await using var forget = new SqliteCommand("DELETE FROM idempotency_keys WHERE created_at_us < $before", connection, transaction);
            forget.Parameters.AddWithValue("$before", keysExpireBefore);
            await forget.ExecuteNonQueryAsync(cancellationToken);
        }
        await transaction.CommitAsync(cancellationToken);
        return Idempotency.Assemble(decisions, fresh, replayed);
    }

    public async Task<Message?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand($"SELECT {Columns} FROM messages WHERE id = $id", connection);
        command.Parameters.AddWithValue("$id", id);
        var messages = await ReadMessagesAsync(command, cancellationToken);
        return messages.Count == 0 ? null : messages[0];
    }

    public async Task<IReadOnlyList<Message>> ListAsync(string topic, PageQuery query, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(MessageQueries.Page(Columns, query), connection);
        AddParameters(command, topic, query.LowerExclusive, query.UpperExclusive, query.Limit);
        var messages = await ReadMessagesAsync(command, cancellationToken);
        if (!query.Ascending)
        {
            messages.Reverse();
        }
        return messages;
    }

    public async Task<long> LatestIdAsync(string topic, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand("SELECT coalesce(max(id), 0) FROM messages WHERE topic = $topic", connection);
        command.Parameters.AddWithValue("$topic", topic);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<bool> DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var command = new SqliteCommand("DELETE FROM messages WHERE id = $1", connection, transaction);
        AddParameters(command, id);
        var deleted = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        await ForgetOldTombstonesAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    public async Task<IReadOnlyList<long>> DeletedAsync(string topic, long throughId, TimeSpan within, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(MessageQueries.DeletedSince("deleted_at_us"), connection);
        AddParameters(command, topic, throughId, ToUnixMicroseconds(Tombstones.Since(within)));
        return await ReadIdsAsync(command, cancellationToken);
    }

    private static async Task ForgetOldTombstonesAsync(SqliteConnection connection, SqliteTransaction transaction, CancellationToken cancellationToken)
    {
        await using var forget = new SqliteCommand(MessageQueries.ForgetTombstones("deleted_at_us"), connection, transaction);
        AddParameters(forget, ToUnixMicroseconds(DateTime.UtcNow - Tombstones.KeptFor));
        await forget.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<TopicSummary>> ListTopicsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(
            "SELECT topic, count(*), max(created_at_us) FROM messages GROUP BY topic ORDER BY topic", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var topics = new List<TopicSummary>();
        while (await reader.ReadAsync(cancellationToken))
        {
            topics.Add(new TopicSummary(reader.GetString(0), reader.GetInt64(1), FromUnixMicroseconds(reader.GetInt64(2))));
        }
        return topics;
    }

    public async Task<IReadOnlyList<DeletedMessage>?> ApplyRetentionAsync(DateTime? olderThan, int? maxPerTopic, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var delete = new SqliteCommand(
            $"DELETE FROM messages WHERE id IN ({MessageQueries.RetainedNoLonger("created_at_us", olderThan is not null, maxPerTopic is not null)}) RETURNING topic, id",
            connection, transaction);
        AddParameters(delete, olderThan is { } cutoff ? ToUnixMicroseconds(cutoff) : 0L, maxPerTopic ?? int.MaxValue, limit);
        var deleted = new List<DeletedMessage>();
        await using (var reader = await delete.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                deleted.Add(new DeletedMessage(reader.GetString(0), reader.GetInt64(1)));
            }
        }
        await ForgetOldTombstonesAsync(connection, transaction, cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    /// <summary>Binds the values to $1, $2, ... in order.</summary>
    private static void AddParameters(SqliteCommand command, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters.AddWithValue($"${i + 1}", values[i]);
        }
    }

    private static async Task<List<long>> ReadIdsAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var ids = new List<long>();
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }

    internal async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        // FULL: a commit reaches the disk before the publish is acknowledged, in WAL mode too. busy_timeout: a writer
        // that finds another one (the webhook worker, retention) waits in SQLite's own short steps, where the
        // driver's retry would sleep 150 ms at a time.
        await using var command = new SqliteCommand("PRAGMA synchronous = FULL; PRAGMA busy_timeout = 15000", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    private static async Task<List<Message>> ReadMessagesAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(new Message(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), FromUnixMicroseconds(reader.GetInt64(4))));
        }
        return messages;
    }

    internal static long ToUnixMicroseconds(DateTime utc) => (utc - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMicrosecond;

    internal static DateTime FromUnixMicroseconds(long microseconds) =>
        DateTime.SpecifyKind(DateTime.UnixEpoch.AddTicks(microseconds * TimeSpan.TicksPerMicrosecond), DateTimeKind.Utc);
}
