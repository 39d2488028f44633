using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Search;

/// <summary>
/// A server killed (kill -9) while it publishes and indexes leaves the search index in step with what is stored:
/// the index batch and its progress mark (SQLite) or queue entries (PostgreSQL) commit together, and GIN entries still
/// pending their merge are as durable as merged ones.
/// </summary>
public sealed class SearchCrashTests(PostgresFixture postgres)
{
    [Fact]
    public async Task After_kill_9_while_indexing_on_SQLite_search_finds_every_stored_message_once()
    {
        using var directory = new TemporaryDirectory("ms-search-crash-");
        await KillAndSearchAsync(MessageServerHost.SqliteSettings(directory.FullName));
    }

    [Fact]
    public async Task After_kill_9_while_indexing_on_PostgreSQL_search_finds_every_stored_message_once()
    {
        await KillAndSearchAsync(postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync()));
    }

    private static async Task KillAndSearchAsync(Dictionary<string, string?> settings)
    {
        var topic = UniqueTopic("search-crash");
        using var load = await PublishingLoad.KillMidStreamAsync(settings, topic, acknowledged: 1000);

        await using var restarted = await ServerProcess.StartAsync(settings);
        var stored = await restarted.Client.ListAllAsync(topic);
        var found = new List<long>();
        while (true)
        {
            var before = found.Count == 0 ? "" : $"&before={found[^1]}";
            var page = (await restarted.Client.GetFromJsonAsync<MessageListDto>($"/api/search?q=worker&topic={topic}&limit=200{before}"))!.Messages;
            found.AddRange(page.Select(message => message.Id));
            if (page.Count < 200)
            {
                break;
            }
        }

        Assert.True(load.Acknowledged.Count > 300, $"only {load.Acknowledged.Count} publishes were acknowledged before the kill");
        Assert.All(load.Acknowledged.Keys, id => Assert.Contains(id, stored.Select(message => message.Id)));
        Assert.Equal(stored.Select(message => message.Id).Reverse(), found);
    }
}
