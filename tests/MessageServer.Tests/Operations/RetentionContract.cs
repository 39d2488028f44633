using System.Globalization;
using MessageServer.Operations;
using MessageServer.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Operations;

/// <summary>Retention in both storage modes (subclasses at the end); each test runs a server of its own.</summary>
public abstract class RetentionContract
{
    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    /// <summary>Makes messages look <paramref name="days"/> days older than they are.</summary>
    protected abstract Task BackdateAsync(Dictionary<string, string?> settings, IEnumerable<long> ids, int days);

    private async Task<(MessageServerHost Host, Dictionary<string, string?> Settings)> StartAsync(string name, string value)
    {
        var settings = await CreateSettingsAsync();
        settings[name] = value;
        // A long interval: the tests run each pass themselves.
        settings["RETENTION_INTERVAL_SECONDS"] = "3600";
        return (await MessageServerHost.StartAsync(settings), settings);
    }

    private static Task<int?> RunRetentionAsync(MessageServerHost host) =>
        host.Services.GetRequiredService<RetentionJob>().RunOnceAsync(CancellationToken.None);

    [Fact]
    public async Task RETENTION_MAX_PER_TOPIC_keeps_the_newest_messages_of_each_topic()
    {
        var (host, _) = await StartAsync("RETENTION_MAX_PER_TOPIC", "3");
        await using var _ = host;
        var busy = UniqueTopic("busy");
        var quiet = UniqueTopic("quiet");
        var busyIds = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            busyIds.Add((await host.Client.PublishAsync(busy, $"busy {i}")).Id);
        }
        var quietIds = new List<long> { (await host.Client.PublishAsync(quiet, "q1")).Id, (await host.Client.PublishAsync(quiet, "q2")).Id };

        Assert.Equal(2, await RunRetentionAsync(host));

        Assert.Equal(busyIds.Skip(2), (await host.Client.ListAsync(busy)).Select(m => m.Id));
        Assert.Equal(quietIds, (await host.Client.ListAsync(quiet)).Select(m => m.Id));
        Assert.Equal(0, await RunRetentionAsync(host));
    }

    [Fact]
    public async Task RETENTION_DAYS_removes_exactly_the_messages_older_than_that()
    {
        var (host, settings) = await StartAsync("RETENTION_DAYS", "7");
        await using var _ = host;
        var topic = UniqueTopic("aging");
        var old = new[] { (await host.Client.PublishAsync(topic, "old 1")).Id, (await host.Client.PublishAsync(topic, "old 2")).Id };
        var sixDaysOld = (await host.Client.PublishAsync(topic, "six days old")).Id;
        var fresh = (await host.Client.PublishAsync(topic, "fresh")).Id;
        await BackdateAsync(settings, old, 10);
        await BackdateAsync(settings, [sixDaysOld], 6);

        Assert.Equal(2, await RunRetentionAsync(host));

        Assert.Equal([sixDaysOld, fresh], (await host.Client.ListAsync(topic)).Select(m => m.Id));
    }

    [Fact]
    public async Task Messages_removed_by_retention_reach_live_streams_as_deleted_events()
    {
        var (host, _) = await StartAsync("RETENTION_MAX_PER_TOPIC", "1");
        await using var _ = host;
        var topic = UniqueTopic("stream");
        var first = await host.Client.PublishAsync(topic, "goes");
        await host.Client.PublishAsync(topic, "stays");
        await using var stream = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream");

        await RunRetentionAsync(host);

        var deleted = await stream.NextAsync();
        Assert.Equal("deleted", deleted.Event);
        Assert.Equal($"{{\"id\":{first.Id.ToString(CultureInfo.InvariantCulture)}}}", deleted.Data);
    }

    [Fact]
    public async Task A_stream_resumed_after_retention_ran_gets_deleted_events_for_what_it_removed()
    {
        var (host, _) = await StartAsync("RETENTION_MAX_PER_TOPIC", "1");
        await using var _ = host;
        var topic = UniqueTopic("resume");
        var first = await host.Client.PublishAsync(topic, "seen, then removed while away");
        var second = await host.Client.PublishAsync(topic, "seen, kept");

        await RunRetentionAsync(host);
        await using var stream = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream",
            lastEventId: second.Id.ToString(CultureInfo.InvariantCulture));

        var deleted = await stream.NextAsync();
        Assert.Equal(("deleted", $"{{\"id\":{first.Id.ToString(CultureInfo.InvariantCulture)}}}"), (deleted.Event, deleted.Data));
    }
}

public sealed class SqliteRetentionTests : RetentionContract, IDisposable
{
    private readonly TemporaryDirectory directory = new("ms-retention-");

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(MessageServerHost.SqliteSettings(Path.Combine(directory.FullName, Guid.NewGuid().ToString("N"))));

    protected override async Task BackdateAsync(Dictionary<string, string?> settings, IEnumerable<long> ids, int days)
    {
        await using var connection = new SqliteConnection($"Data Source={settings["SQLITE_PATH"]}");
        await connection.OpenAsync();
        await using var command = new SqliteCommand(
            $"UPDATE messages SET created_at_us = created_at_us - $shift WHERE id IN ({string.Join(",", ids)})", connection);
        command.Parameters.AddWithValue("$shift", (long)TimeSpan.FromDays(days).TotalMicroseconds);
        Assert.True(await command.ExecuteNonQueryAsync() > 0);
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        directory.Dispose();
    }
}

public sealed class PostgresRetentionTests(PostgresFixture postgres) : RetentionContract
{
    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());

    protected override async Task BackdateAsync(Dictionary<string, string?> settings, IEnumerable<long> ids, int days) =>
        Assert.True(await postgres.Server.QueryScalarAsync<long>(settings["POSTGRES_DB"]!,
            $"WITH moved AS (UPDATE messages SET created_at = created_at - interval '{days} days' WHERE id IN ({string.Join(",", ids)}) RETURNING 1) SELECT count(*) FROM moved") > 0);

    [Fact]
    public async Task While_another_instance_runs_retention_this_one_skips_its_turn()
    {
        var settings = await CreateSettingsAsync();
        settings["RETENTION_MAX_PER_TOPIC"] = "1";
        settings["RETENTION_INTERVAL_SECONDS"] = "3600";
        await using var host = await MessageServerHost.StartAsync(settings);
        var topic = UniqueTopic("locked");
        await host.Client.PublishAsync(topic, "one");
        await host.Client.PublishAsync(topic, "two");
        var job = host.Services.GetRequiredService<RetentionJob>();

        // Another instance mid-run holds the retention lock.
        await using (var other = new Npgsql.NpgsqlConnection(postgres.Server.ConnectionString(settings["POSTGRES_DB"]!)))
        {
            await other.OpenAsync();
            await using var hold = new Npgsql.NpgsqlCommand("SELECT pg_advisory_lock($1)", other);
            hold.Parameters.Add(new Npgsql.NpgsqlParameter<long> { TypedValue = MessageServer.Storage.Postgres.PostgresMessageStore.RetentionLockKey });
            await hold.ExecuteNonQueryAsync();

            Assert.Null(await job.RunOnceAsync(CancellationToken.None));
            Assert.Equal(2, (await host.Client.ListAsync(topic)).Count);

            // That instance finishes (unlocking explicitly: a closed session's locks go a moment later).
            await using var release = new Npgsql.NpgsqlCommand("SELECT pg_advisory_unlock($1)", other);
            release.Parameters.Add(new Npgsql.NpgsqlParameter<long> { TypedValue = MessageServer.Storage.Postgres.PostgresMessageStore.RetentionLockKey });
            Assert.True((bool)(await release.ExecuteScalarAsync())!);
        }

        Assert.Equal(1, await job.RunOnceAsync(CancellationToken.None));
        Assert.Single(await host.Client.ListAsync(topic));
    }
}
