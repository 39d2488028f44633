using System.Net.Http.Json;
using System.Net;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Storage;

/// <summary>Start-up against a database that is late, gone, or shared by instances starting together.</summary>
public sealed class DatabaseLifecycleTests(PostgresFixture postgres)
{
    [Fact]
    public async Task A_server_started_before_its_database_answers_503_then_serves_once_the_database_is_up()
    {
        var port = PostgresServer.FreePort();
        var settings = new Dictionary<string, string?>
        {
            ["POSTGRES_HOST"] = "127.0.0.1",
            ["POSTGRES_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["POSTGRES_USER"] = PostgresServer.User,
            ["POSTGRES_PASSWORD"] = PostgresServer.Password,
            ["POSTGRES_SSLMODE"] = "disable",
        };
        await using var server = await MessageServerHost.StartAsync(settings, waitUntilReady: false);
        var topic = UniqueTopic();

        using (var ready = await server.Client.GetAsync("/ready"))
        using (var health = await server.Client.GetAsync("/health"))
        using (var publish = await server.Client.PostJsonAsync(topic, """{"text": "too early"}"""))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
            await AssertProblemAsync(publish, HttpStatusCode.ServiceUnavailable);
            Assert.NotNull(publish.Headers.RetryAfter);
        }

        await using var database = await PostgresServer.StartAsync(port);
        await server.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));

        var message = await server.Client.PublishAsync(topic, "after the database came up");
        Assert.Equal([message.Id], (await server.Client.ListAsync(topic)).Select(m => m.Id));
    }

    [Fact]
    public async Task A_database_that_goes_away_gives_503_with_Retry_After_and_service_resumes_when_it_returns()
    {
        await using var database = await PostgresServer.StartAsync();
        await using var server = await MessageServerHost.StartAsync(database.SettingsFor("postgres"));
        var topic = UniqueTopic();
        var before = await server.Client.PublishAsync(topic, "before the outage");

        await database.StopAsync();
        using (var ready = await server.Client.GetAsync("/ready"))
        using (var publish = await server.Client.PostJsonAsync(topic, """{"text": "during the outage"}"""))
        using (var read = await server.Client.GetAsync($"/api/topics/{topic}/messages"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            await AssertProblemAsync(publish, HttpStatusCode.ServiceUnavailable);
            await AssertProblemAsync(read, HttpStatusCode.ServiceUnavailable);
            Assert.NotNull(publish.Headers.RetryAfter);
        }

        await database.StartAsync();
        await server.WaitUntilReadyAsync(TimeSpan.FromSeconds(10));
        var after = await server.Client.PublishAsync(topic, "after the outage");

        Assert.Equal([before.Id, after.Id], (await server.Client.ListAsync(topic)).Select(m => m.Id));
    }

    [Fact]
    public async Task Two_instances_starting_together_on_a_fresh_database_migrate_it_once_and_both_serve()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        var settings = postgres.Server.SettingsFor(database);

        var servers = await Task.WhenAll(MessageServerHost.StartAsync(settings), MessageServerHost.StartAsync(settings));
        try
        {
            var topic = UniqueTopic();
            var first = await servers[0].Client.PublishAsync(topic, "from instance one");
            var second = await servers[1].Client.PublishAsync(topic, "from instance two");

            Assert.Equal([first.Id, second.Id], (await servers[0].Client.ListAsync(topic)).Select(m => m.Id));
            // Every script is applied exactly once.
            var scripts = typeof(MessageServer.Messages.Message).Assembly.GetManifestResourceNames().Count(n => n.Contains(".Storage.Postgres.Migrations.", StringComparison.Ordinal));
            Assert.Equal(scripts, await postgres.Server.QueryScalarAsync<long>(database, "SELECT count(*) FROM schemaversions"));
            Assert.Equal(0L, await postgres.Server.QueryScalarAsync<long>(database, "SELECT count(*) - count(DISTINCT scriptname) FROM schemaversions"));
        }
        finally
        {
            foreach (var server in servers)
            {
                await server.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task A_migration_script_that_fails_is_named_by_ready_instead_of_looking_like_an_unreachable_database()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        // Something already owns a name the tombstone migration creates: the script fails however often it is retried.
        await postgres.Server.ExecuteAsync(database, "CREATE TABLE deleted_messages (note text)");

        await using var server = await MessageServerHost.StartAsync(postgres.Server.SettingsFor(database), waitUntilReady: false);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        string reason;
        do
        {
            await Task.Delay(100);
            using var ready = await server.Client.GetAsync("/ready");
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            reason = (await ready.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("reason").GetString()!;
        }
        while (!reason.Contains("0004_create_deleted_messages", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        Assert.Contains("migration", reason, StringComparison.Ordinal);
        Assert.Contains("0004_create_deleted_messages", reason, StringComparison.Ordinal);
    }
}
