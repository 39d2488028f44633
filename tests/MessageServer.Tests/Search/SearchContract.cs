using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using MessageServer.Operations;
using MessageServer.Security;
using MessageServer.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MessageServer.Search;
using Npgsql;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Search;

/// <summary>
/// The HTTP contract of GET /api/search, run once per storage mode (subclasses at the end), so both engines answer
/// every query alike. Each test publishes into topics of its own and searches for a word made unique per test, so
/// the shared server's other messages never match.
/// </summary>
public abstract class SearchContract(ServerFixture server)
{
    protected HttpClient Client => server.Client;

    /// <summary>Settings for a server of the test's own (tokens, retention), on the same kind of storage.</summary>
    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    /// <summary>A word no other test uses: letters only, so every engine keeps it as one token.</summary>
    protected static string UniqueWord() => "w" + new string(Guid.NewGuid().ToString("N").Select(c => (char)('a' + (c % 26))).ToArray());

    protected static async Task<List<MessageDto>> SearchAsync(HttpClient client, string query, string? token = null)
    {
        using var response = await SearchResponseAsync(client, query, token);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<MessageListDto>())!.Messages;
    }

    private static async Task<HttpResponseMessage> SearchResponseAsync(HttpClient client, string query, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/search?{query}");
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        return await client.SendAsync(request);
    }

    private Task<List<MessageDto>> FindAsync(string q) => SearchAsync(Client, "q=" + Uri.EscapeDataString(q));

    /// <summary>Publishes the texts to a new topic and returns their ids in order.</summary>
    private async Task<List<long>> PublishAllAsync(params string[] texts)
    {
        var topic = UniqueTopic("search");
        var ids = new List<long>();
        foreach (var text in texts)
        {
            ids.Add((await Client.PublishAsync(topic, text)).Id);
        }
        return ids;
    }

    protected static IEnumerable<long> Ids(IEnumerable<MessageDto> messages) => messages.Select(m => m.Id);

    [Fact]
    public async Task Every_word_must_match_and_matches_come_newest_first()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} disk full on web", $"{word} disk fine", $"{word} full moon", $"{word} disk is full again");

        Assert.Equal([ids[3], ids[0]], Ids(await FindAsync($"{word} disk full")));
    }

    [Fact]
    public async Task A_quoted_phrase_matches_its_words_side_by_side_in_order()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} the disk is full", $"{word} full disk", $"{word} disk was full");

        Assert.Equal([ids[0]], Ids(await FindAsync($"{word} \"disk is full\"")));
    }

    [Fact]
    public async Task A_minus_excludes_a_word_or_a_phrase()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} deploy ok", $"{word} deploy failed", $"{word} deploy rolled back");

        Assert.Equal([ids[2], ids[0]], Ids(await FindAsync($"{word} -failed")));
        Assert.Equal([ids[1], ids[0]], Ids(await FindAsync($"{word} -\"rolled back\"")));
    }

    [Fact]
    public async Task OR_matches_either_term_and_binds_tighter_than_the_implicit_AND()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} red apple", $"{word} green apple", $"{word} red car", $"{word} blue apple");

        Assert.Equal([ids[1], ids[0]], Ids(await FindAsync($"{word} red OR green apple")));
    }

    [Fact]
    public async Task Lower_case_or_is_an_ordinary_word()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} red", $"{word} red or green");

        Assert.Equal([ids[1]], Ids(await FindAsync($"{word} red or")));
    }

    [Fact]
    public async Task Matching_ignores_case_and_folds_accents_both_ways()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} Café crème", $"{word} CAFE CREME", $"{word} naïve résumé");

        Assert.Equal([ids[1], ids[0]], Ids(await FindAsync($"{word} cafe")));
        Assert.Equal([ids[1], ids[0]], Ids(await FindAsync($"{word} CAFÉ Crème")));
        Assert.Equal([ids[2]], Ids(await FindAsync($"{word} naive RESUME")));
    }

    [Fact]
    public async Task A_trailing_star_matches_words_that_begin_so()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} deployment", $"{word} deployed", $"{word} redeploy");

        Assert.Equal([ids[1], ids[0]], Ids(await FindAsync($"{word} deploy*")));
        Assert.Empty(await FindAsync($"{word} deploy"));
    }

    [Fact]
    public async Task Words_match_whole_not_inside_other_words()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} concatenate", $"{word} the cat sat");

        Assert.Equal([ids[1]], Ids(await FindAsync($"{word} cat")));
    }

    [Fact]
    public async Task The_author_is_searched_as_well_as_the_text()
    {
        var word = UniqueWord();
        var topic = UniqueTopic("search");
        var byAuthor = await Client.PublishAsync(topic, "nothing special here", $"{word}-bot");
        var inText = await Client.PublishAsync(topic, $"mentions {word}", "someone");

        Assert.Equal([inText.Id, byAuthor.Id], Ids(await FindAsync(word)));
    }

    [Fact]
    public async Task A_word_with_punctuation_matches_the_same_word_in_the_text()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} web-1 is down", $"{word} web 2 has 1 error", $"{word} see https://example.com/web/1 now");

        Assert.Equal([ids[2], ids[0]], Ids(await FindAsync($"{word} web-1")));
        Assert.Equal([ids[2]], Ids(await FindAsync($"{word} example.com")));
    }

    [Fact]
    public async Task Cyrillic_and_Greek_match_in_any_case()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} Привет, мир", $"{word} Καλημέρα κόσμε", $"{word} ΟΔΌΣ");

        Assert.Equal([ids[0]], Ids(await FindAsync($"{word} ПРИВЕТ")));
        Assert.Equal([ids[1]], Ids(await FindAsync($"{word} ΚΑΛΗΜΈΡΑ")));
        Assert.Equal([ids[2]], Ids(await FindAsync($"{word} οδός")));
    }

    [Fact]
    public async Task CJK_text_is_found_by_a_whole_run_or_its_beginning()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} 東京都に行きました。", $"{word} 日本語 テスト");

        Assert.Equal([ids[0]], Ids(await FindAsync($"{word} 東京都に行きました")));
        Assert.Equal([ids[0]], Ids(await FindAsync($"{word} 東京*")));
        Assert.Equal([ids[1]], Ids(await FindAsync($"{word} テスト")));
        Assert.Empty(await FindAsync($"{word} 京都"));
    }

    [Fact]
    public async Task Limit_and_before_page_through_older_matches()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync(Enumerable.Range(1, 5).Select(i => $"{word} number {i}").ToArray());

        var first = await SearchAsync(Client, $"q={word}&limit=2");
        var second = await SearchAsync(Client, $"q={word}&limit=2&before={first[^1].Id}");
        var last = await SearchAsync(Client, $"q={word}&limit=2&before={second[^1].Id}");

        Assert.Equal([ids[4], ids[3]], Ids(first));
        Assert.Equal([ids[2], ids[1]], Ids(second));
        Assert.Equal([ids[0]], Ids(last));
    }

    [Fact]
    public async Task Topic_limits_the_search_to_one_topic()
    {
        var word = UniqueWord();
        var here = UniqueTopic("here");
        var mine = await Client.PublishAsync(here, $"{word} here");
        await Client.PublishAsync(UniqueTopic("there"), $"{word} there");

        Assert.Equal([mine.Id], Ids(await SearchAsync(Client, $"q={word}&topic={here}")));
    }

    [Fact]
    public async Task A_deleted_message_is_no_longer_found()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} keep", $"{word} remove");

        using var deleted = await Client.DeleteAsync($"/api/messages/{ids[1]}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        Assert.Equal([ids[0]], Ids(await FindAsync(word)));
    }

    [Fact]
    public async Task Query_syntax_of_either_engine_is_only_text()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} alpha", $"{word} near beta gamma", $"{word} text colon");

        // FTS5's and tsquery's own operators and column filters are punctuation or plain words here.
        Assert.Equal([ids[1]], Ids(await FindAsync($"{word} NEAR(beta gamma)")));
        Assert.Equal([ids[2]], Ids(await FindAsync($"{word} text:colon")));
        Assert.Empty(await FindAsync($"{word} alpha & !beta | '1'=1 <-> x:*"));
        Assert.Equal([ids[0]], Ids(await FindAsync($"{word} ^alpha")));
    }

    public static TheoryData<string> LenientQueries() =>
    [
        "\"word here",
        "word -",
        "word - -",
        "OR word",
        "word OR",
        "word OR OR",
        "word AND",
        "\"\" word",
        "word ***",
        "(word)",
        "word \\ ' ; -- /* */",
        "-\"\" word",
        "word*",
        "\"word\"*",
    ];

    [Theory]
    [MemberData(nameof(LenientQueries))]
    public async Task Malformed_queries_are_read_leniently(string template)
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} here");

        Assert.Equal(ids, Ids(await FindAsync(template.Replace("word", word, StringComparison.Ordinal))));
    }

    public static TheoryData<string> QueriesWithNothingToFind() => ["-", "\"", "OR", "***", "-word", "- - -", "!!! ...", "\u0000", "-a -b"];

    [Theory]
    [MemberData(nameof(QueriesWithNothingToFind))]
    public async Task A_query_with_no_word_to_look_for_is_a_400_naming_q(string q)
    {
        using var response = await SearchResponseAsync(Client, "q=" + Uri.EscapeDataString(q));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "q");
    }

    public static TheoryData<string, string> InvalidParameters() => new()
    {
        { "", "q" },
        { "q=", "q" },
        { "q=" + new string('a', 257), "q" },
        { "q=a&q=b", "q" },
        { "q=a&limit=0", "limit" },
        { "q=a&limit=201", "limit" },
        { "q=a&limit=x", "limit" },
        { "q=a&before=-1", "before" },
        { "q=a&topic=no%20spaces", "topic" },
    };

    [Theory]
    [MemberData(nameof(InvalidParameters))]
    public async Task Invalid_parameters_are_a_400_naming_the_parameter(string query, string field)
    {
        using var response = await SearchResponseAsync(Client, query);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task A_query_of_256_characters_is_accepted()
    {
        var word = UniqueWord();
        var ids = await PublishAllAsync($"{word} long");

        Assert.Equal(ids, Ids(await FindAsync(word.PadRight(256, ' '))));
    }

    [Fact]
    public async Task A_token_finds_only_messages_of_the_topics_it_may_read()
    {
        var settings = await CreateSettingsAsync();
        settings["AUTH_DEFAULT_ACCESS"] = "none";
        await using var host = await MessageServerHost.StartAsync(settings);
        var writer = await CreateTokenAsync(host, "writer", "*", "*");
        var reader = await CreateTokenAsync(host, "team-reader", "team-*", "");
        var word = UniqueWord();
        var team = "team-" + Guid.NewGuid().ToString("N");
        var other = UniqueTopic("other");
        var visible = await PublishAsync(host, writer, team, $"{word} visible");
        await PublishAsync(host, writer, other, $"{word} hidden");
        await PublishAsync(host, writer, "teamless-" + Guid.NewGuid().ToString("N"), $"{word} hidden too");

        Assert.Equal([visible.Id], Ids(await SearchAsync(host.Client, $"q={word}", reader)));
        Assert.Equal(3, (await SearchAsync(host.Client, $"q={word}", writer)).Count);
        using var otherTopic = await SearchResponseAsync(host.Client, $"q={word}&topic={other}", reader);
        using var anonymous = await SearchResponseAsync(host.Client, $"q={word}");
        await AssertProblemAsync(otherTopic, HttpStatusCode.Forbidden);
        await AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Messages_removed_by_retention_are_no_longer_found()
    {
        var settings = await CreateSettingsAsync();
        settings["RETENTION_MAX_PER_TOPIC"] = "1";
        settings["RETENTION_INTERVAL_SECONDS"] = "3600";
        await using var host = await MessageServerHost.StartAsync(settings);
        var word = UniqueWord();
        var topic = UniqueTopic("retained");
        await host.Client.PublishAsync(topic, $"{word} old");
        var kept = await host.Client.PublishAsync(topic, $"{word} new");

        await host.Services.GetRequiredService<RetentionJob>().RunOnceAsync(CancellationToken.None);

        Assert.Equal([kept.Id], Ids(await SearchAsync(host.Client, $"q={word}")));
    }

    [Fact]
    public async Task Messages_stored_before_search_existed_are_found_after_the_upgrade()
    {
        var settings = await CreateSettingsAsync();
        var word = UniqueWord();
        long id;
        await using (var before = await MessageServerHost.StartAsync(settings))
        {
            id = (await before.Client.PublishAsync(UniqueTopic("old"), $"{word} from before")).Id;
        }
        await RemoveSearchAsync(settings);

        await using var after = await MessageServerHost.StartAsync(settings);

        Assert.Equal([id], Ids(await SearchAsync(after.Client, $"q={word}")));
    }

    [Fact]
    public async Task A_message_is_found_as_soon_as_its_publish_is_answered_before_the_indexer_gets_to_it()
    {
        await using var host = await MessageServerHost.StartAsync(await CreateSettingsAsync());
        await StopIndexerAsync(host);
        var word = UniqueWord();

        var published = await host.Client.PublishAsync(UniqueTopic("fresh"), $"{word} just now");

        Assert.Equal([published.Id], Ids(await SearchAsync(host.Client, $"q={word}")));
    }

    [Fact]
    public async Task A_message_deleted_before_it_was_indexed_is_never_found()
    {
        await using var host = await MessageServerHost.StartAsync(await CreateSettingsAsync());
        var indexer = await StopIndexerAsync(host);
        var word = UniqueWord();
        var topic = UniqueTopic("gone");
        var kept = await host.Client.PublishAsync(topic, $"{word} kept");
        var removed = await host.Client.PublishAsync(topic, $"{word} removed");
        using (var deleted = await host.Client.DeleteAsync($"/api/messages/{removed.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        }

        while (await indexer.IndexBatchAsync(CancellationToken.None) > 0)
        {
        }

        Assert.Equal([kept.Id], Ids(await SearchAsync(host.Client, $"q={word}")));
    }

    /// <summary>Stops the host's background indexer, so what a test publishes next stays unindexed until it says.</summary>
    protected static async Task<SearchIndexer> StopIndexerAsync(MessageServerHost host)
    {
        var indexer = host.Services.GetServices<IHostedService>().OfType<SearchIndexer>().Single();
        await indexer.StopAsync(CancellationToken.None);
        return indexer;
    }

    /// <summary>Takes the database back to where it was before migration 0005 (its messages kept), as if search had never existed.</summary>
    protected abstract Task RemoveSearchAsync(Dictionary<string, string?> settings);

    private static async Task<string> CreateTokenAsync(MessageServerHost host, string name, string read, string write)
    {
        var token = TokenSecrets.NewToken();
        Assert.True(await host.Services.GetRequiredService<ITokenStore>().CreateTokenAsync(name, TokenSecrets.HashHex(token), read, write, CancellationToken.None));
        return token;
    }

    private static async Task<MessageDto> PublishAsync(MessageServerHost host, string token, string topic, string text)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages") { Content = JsonContent.Create(new { text }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await host.Client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<MessageDto>())!;
    }
}

public sealed class SqliteSearchTests(SqliteServerFixture server) : SearchContract(server), IClassFixture<SqliteServerFixture>, IDisposable
{
    private readonly TemporaryDirectory directory = new("ms-search-");

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(MessageServerHost.SqliteSettings(Path.Combine(directory.FullName, Guid.NewGuid().ToString("N"))));

    protected override async Task RemoveSearchAsync(Dictionary<string, string?> settings)
    {
        await using var connection = new SqliteConnection($"Data Source={settings["SQLITE_PATH"]}");
        await connection.OpenAsync();
        await using var command = new SqliteCommand(
            """
            DROP TRIGGER messages_search_after_delete;
            DROP TRIGGER messages_search_after_update;
            DROP TABLE messages_search;
            DROP TABLE search_progress;
            DELETE FROM SchemaVersions WHERE ScriptName LIKE '%.0005_%' OR ScriptName LIKE '%.0007_%' OR ScriptName LIKE '%.0008_%';
            """, connection);
        await command.ExecuteNonQueryAsync();
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        directory.Dispose();
    }
}

public sealed class PostgresSearchTests(PostgresServerFixture server, PostgresFixture postgres) : SearchContract(server), IClassFixture<PostgresServerFixture>
{
    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());

    protected override Task RemoveSearchAsync(Dictionary<string, string?> settings) =>
        postgres.Server.ExecuteAsync(settings["POSTGRES_DB"]!,
            """
            DROP TABLE search_documents, search_pending, search_backfill;
            DROP TRIGGER messages_queue_for_search ON messages;
            DROP TRIGGER messages_forget_search_documents ON messages;
            DROP FUNCTION queue_for_search, forget_search_documents;
            DROP FUNCTION message_search_term, message_search_document, message_search_fold CASCADE;
            DROP EXTENSION unaccent;
            DELETE FROM schemaversions WHERE scriptname LIKE '%.0005_%' OR scriptname LIKE '%.0007_%' OR scriptname LIKE '%.0008_%';
            """);

    [Fact]
    public async Task Searches_beyond_SEARCH_CONNECTIONS_wait_their_turn_and_all_succeed()
    {
        var settings = await CreateSettingsAsync();
        settings["SEARCH_CONNECTIONS"] = "2";
        var database = settings["POSTGRES_DB"]!;
        await using var host = await MessageServerHost.StartAsync(settings);
        var word = UniqueWord();
        var id = (await host.Client.PublishAsync(UniqueTopic("turns"), $"{word} in a crowd")).Id;
        using var done = new CancellationTokenSource();
        var mostAtOnce = 0L;
        var watcher = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested)
            {
                mostAtOnce = Math.Max(mostAtOnce, await postgres.Server.QueryScalarAsync<long>(database,
                    $"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'message-server-search' AND datname = '{database}'"));
            }
        });

        // More searches at once than connections: the rest wait for one (in the pool), none fails.
        var searches = await Task.WhenAll(Enumerable.Range(0, 40).Select(_ => SearchAsync(host.Client, "q=" + word)));
        await done.CancelAsync();
        await watcher;

        Assert.All(searches, found => Assert.Equal([id], Ids(found)));
        Assert.InRange(mostAtOnce, 1, 2);
    }

    [Fact]
    public async Task The_statistics_send_a_query_with_a_rare_word_straight_to_the_search_index()
    {
        var (database, frequencies, rare, common) = await AnalysedWordsAsync();

        var plan = await ExplainAsync(database, $"{rare} {common}", frequencies);

        Assert.True(plan.Any(line => line.Contains("Bitmap Index Scan on search_documents_document", StringComparison.Ordinal))
            && !plan.Any(line => line.Contains("CTE recent", StringComparison.Ordinal)), string.Join("\n", plan));
    }

    [Fact]
    public async Task The_statistics_send_a_common_word_to_the_newest_documents_first()
    {
        var (database, frequencies, _, common) = await AnalysedWordsAsync();

        var plan = await ExplainAsync(database, common, frequencies);

        Assert.True(plan.Any(line => line.Contains("CTE recent", StringComparison.Ordinal)), string.Join("\n", plan));
    }

    [Fact]
    public async Task Every_plan_finds_the_same_messages()
    {
        var settings = await CreateSettingsAsync();
        var database = settings["POSTGRES_DB"]!;
        await using var host = await MessageServerHost.StartAsync(settings);
        var indexer = await StopIndexerAsync(host);
        var (rare, common, other) = (UniqueWord(), UniqueWord(), UniqueWord());
        var topics = new[] { UniqueTopic("plans"), UniqueTopic("plans") };
        var ids = new List<long>();
        for (var i = 0; i < 90; i++)
        {
            if (i == 60)
            {
                // The first 60 are indexed, the last 30 still queued: every plan reads both.
                while (await indexer.IndexBatchAsync(CancellationToken.None) > 0)
                {
                }
            }
            var text = $"{(i % 7 == 3 ? rare : "")} {(i % 3 == 0 ? common : "")} {(i % 2 == 0 ? other : "")} number {i}";
            ids.Add((await host.Client.PublishAsync(topics[i % 2], text)).Id);
        }
        var frequencies = new WordFrequencies(new Dictionary<string, double> { [rare] = 0.01, [common] = 0.33, [other] = 0.5, ["number"] = 1 });
        string[] queries = [rare, common, $"{rare} {common}", $"{rare} OR {common}", $"\"{common} {other}\"", $"\"{other} number\"*",
            $"{rare[..6]}*", $"{common} -{rare}", $"{rare} -{other}", $"{other} {common} -\"{rare} {common}\""];
        var requests = queries.SelectMany(q => new[]
        {
            new SearchRequest(SearchQuery.Parse(q).Query!, null, null, 3, null),
            new SearchRequest(SearchQuery.Parse(q).Query!, topics[0], null, 3, null),
            new SearchRequest(SearchQuery.Parse(q).Query!, null, [topics[1][..^4] + "*"], 3, ids[70]),
            new SearchRequest(SearchQuery.Parse(q).Query!, null, null, 200, ids[45]),
        });

        var differences = new List<string>();
        var matched = 0;
        foreach (var request in requests)
        {
            var rated = PostgresMessageSearch.Plan(frequencies, request.Query);
            var found = new List<List<long>>();
            foreach (var plan in new PostgresMessageSearch.SearchPlan[] { new(true, null), new(true, rated.Lookup), new(false, rated.Lookup) })
            {
                found.Add(await SearchWithPlanAsync(database, request, plan));
            }
            matched += found[0].Count;
            if (found.Any(ids => !ids.SequenceEqual(found[0])))
            {
                differences.Add($"{Describe(request)}: {string.Join(" / ", found.Select(ids => string.Join(",", ids)))}");
            }
        }

        Assert.True(differences.Count == 0 && matched > 0, $"matched {matched}; plans differ: {string.Join("; ", differences)}");
    }

    private static string Describe(SearchRequest request) =>
        $"{string.Join(" & ", request.Query.AllOf.Select(group => string.Join("|", group.Select(term => term.Text))))} topic {request.Topic} before {request.Before}";

    /// <summary>
    /// A database of its own where one word is in every message and another in one of them, indexed and analysed;
    /// returns the statistics the server reads from it.
    /// </summary>
    private async Task<(string Database, WordFrequencies Frequencies, string Rare, string Common)> AnalysedWordsAsync()
    {
        var settings = await CreateSettingsAsync();
        var database = settings["POSTGRES_DB"]!;
        await using var host = await MessageServerHost.StartAsync(settings);
        var indexer = await StopIndexerAsync(host);
        var (rare, common) = (UniqueWord(), UniqueWord());
        var topic = UniqueTopic("statistics");
        for (var i = 0; i < 40; i++)
        {
            await host.Client.PublishAsync(topic, i == 7 ? $"{common} {rare}" : $"{common} number {i}");
        }
        while (await indexer.IndexBatchAsync(CancellationToken.None) > 0)
        {
        }
        await postgres.Server.ExecuteAsync(database, "ANALYZE search_documents");
        var statistics = host.Services.GetRequiredService<PostgresWordFrequencies>();
        statistics.Invalidate();
        return (database, await statistics.CurrentAsync(CancellationToken.None), rare, common);
    }

    private async Task<List<long>> SearchWithPlanAsync(string database, SearchRequest request, PostgresMessageSearch.SearchPlan plan)
    {
        await using var connection = new NpgsqlConnection(postgres.Server.ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand { Connection = connection };
        command.CommandText = PostgresMessageSearch.Sql(request, 0, plan, command.Parameters);
        var ids = new List<long>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            ids.Add(reader.GetInt64(0));
        }
        return ids;
    }

    [Fact]
    public async Task Instances_sharing_one_database_index_every_message_exactly_once()
    {
        var settings = await CreateSettingsAsync();
        var database = settings["POSTGRES_DB"]!;
        await using var first = await MessageServerHost.StartAsync(settings);
        await using var second = await MessageServerHost.StartAsync(settings);
        var indexers = new[] { first, second }.Select(host => host.Services.GetServices<IHostedService>().OfType<PostgresSearchIndexer>().Single()).ToList();
        var word = UniqueWord();
        var topic = UniqueTopic("racing");

        // Both instances publish while both background indexers run and extra batches race them.
        var publishing = Enumerable.Range(0, 400).Select(i => (i % 2 == 0 ? first : second).Client.PublishAsync(topic, $"{word} number {i}"));
        var racing = Enumerable.Range(0, 20).Select(i => indexers[i % 2].IndexBatchAsync(CancellationToken.None));
        await Task.WhenAll(Task.WhenAll(publishing), Task.WhenAll(racing));
        while (await indexers[0].IndexBatchAsync(CancellationToken.None) + await indexers[1].IndexBatchAsync(CancellationToken.None) > 0)
        {
        }

        Assert.Equal(0, await postgres.Server.QueryScalarAsync<long>(database, "SELECT count(*) FROM search_pending"));
        Assert.Equal(400, await postgres.Server.QueryScalarAsync<long>(database,
            $"SELECT count(*) FROM search_documents d JOIN messages m ON m.id = d.id WHERE m.topic = '{topic}' AND d.document @@ message_search_term('{word}', false)"));
    }

    /// <summary>The plan of the search that the API runs for q with these statistics, as EXPLAIN prints it.</summary>
    private async Task<List<string>> ExplainAsync(string database, string q, WordFrequencies frequencies)
    {
        await using var connection = new NpgsqlConnection(postgres.Server.ConnectionString(database));
        await connection.OpenAsync();
        // The test tables are tiny: without this the planner would rightly read them whole.
        await using (var noScans = new NpgsqlCommand("SET enable_seqscan = off; SET enable_indexscan = off", connection))
        {
            await noScans.ExecuteNonQueryAsync();
        }
        await using var explain = new NpgsqlCommand { Connection = connection };
        var query = SearchQuery.Parse(q).Query!;
        var request = new SearchRequest(query, null, null, 50, null);
        explain.CommandText = "EXPLAIN " + PostgresMessageSearch.Sql(request, 0, PostgresMessageSearch.Plan(frequencies, query), explain.Parameters);
        var plan = new List<string>();
        await using var reader = await explain.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            plan.Add(reader.GetString(0));
        }
        return plan;
    }
}
