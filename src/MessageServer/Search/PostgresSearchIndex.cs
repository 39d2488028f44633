using System.Diagnostics;
using MessageServer.Storage;
using Npgsql;

namespace MessageServer.Search;

/// <summary>
/// Builds the search index on PostgreSQL after the migrations, in the background and without blocking writes:
/// CREATE INDEX CONCURRENTLY reads the existing messages while publishes, deletes and retention go on (it only
/// waits for transactions already running at its start). It cannot run in a transaction, and DbUp runs each
/// script in one, so it runs here rather than as a migration script (migration 0005 adds the functions it indexes).
/// One instance builds at a time (a try-lock: nobody queues behind it); an index left unfinished by a process
/// that stopped mid-build is invalid, and is dropped and built again. Until the index is there, search answers
/// the same, only slower (a scan of the table).
/// </summary>
public sealed class PostgresSearchIndex(NpgsqlDataSource dataSource, DatabaseState state, ILogger<PostgresSearchIndex> logger) : BackgroundService
{
    // Any constant different from the other advisory lock keys (see PostgresMessageStore).
    internal const long BuildLockKey = 0x7365_6172_6368_6978;
    private static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(30);

    private enum IndexState
    {
        Missing,
        Unfinished,
        Ready,
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await state.WaitUntilMigratedAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await TryBuildAsync(stoppingToken))
                {
                    return;
                }
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogWarning("The search index could not be built yet ({Reason}); retrying in {Seconds:0} s", exception.Describe(), RetryInterval.TotalSeconds);
            }
            await Task.Delay(RetryInterval, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    /// <summary>True once the index is in place; false while another instance is building it.</summary>
    internal async Task<bool> TryBuildAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        if (await StateAsync(connection, cancellationToken) == IndexState.Ready)
        {
            return true;
        }
        if (!await ScalarAsync<bool>(connection, "SELECT pg_try_advisory_lock($1)", cancellationToken, BuildLockKey))
        {
            return false;
        }
        try
        {
            var current = await StateAsync(connection, cancellationToken);
            if (current == IndexState.Ready)
            {
                return true;
            }
            if (current == IndexState.Unfinished)
            {
                logger.LogWarning("Dropping the unfinished search index left by an interrupted build");
                await ExecuteAsync(connection, "DROP INDEX CONCURRENTLY messages_search", cancellationToken);
            }
            logger.LogInformation("Building the search index (CREATE INDEX CONCURRENTLY; writes go on meanwhile)");
            var watch = Stopwatch.StartNew();
            await ExecuteAsync(connection, "CREATE INDEX CONCURRENTLY messages_search ON messages USING gin (message_search_document(author, text))", cancellationToken);
            // The planner picks between the index and a walk down the ids by how common each word is: statistics
            // on the indexed expression exist only once the table is analysed with the index in place.
            await ExecuteAsync(connection, "ANALYZE messages", cancellationToken);
            logger.LogInformation("Search index built in {Seconds:0.0} s", watch.Elapsed.TotalSeconds);
            return true;
        }
        finally
        {
            if (connection.State == System.Data.ConnectionState.Open)
            {
                await ExecuteAsync(connection, $"SELECT pg_advisory_unlock({BuildLockKey})", CancellationToken.None);
            }
        }
    }

    private static async Task<IndexState> StateAsync(NpgsqlConnection connection, CancellationToken cancellationToken) =>
        await ScalarAsync<bool?>(connection, "SELECT i.indisvalid FROM pg_index i WHERE i.indexrelid = to_regclass('messages_search')", cancellationToken) switch
        {
            null => IndexState.Missing,
            false => IndexState.Unfinished,
            true => IndexState.Ready,
        };

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, long? key = null)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        if (key is { } value)
        {
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = value });
        }
        return await command.ExecuteScalarAsync(cancellationToken) is T result ? result : default!;
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        // A large table takes minutes: no client-side time limit.
        await using var command = new NpgsqlCommand(sql, connection) { CommandTimeout = 0 };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
