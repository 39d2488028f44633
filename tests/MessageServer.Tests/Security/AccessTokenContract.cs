using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

/// <summary>AUTH_DEFAULT_ACCESS and access tokens made by the real `tokens` command, in both storage modes.</summary>
public abstract class AccessTokenContract
{
    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    /// <summary>The SHA-256 (hex) the store keeps for a token name.</summary>
    protected abstract Task<string> StoredHashAsync(Dictionary<string, string?> settings, string name);

    private async Task<(MessageServerHost Host, Dictionary<string, string?> Settings)> StartAsync(string anonymousAccess)
    {
        var settings = await CreateSettingsAsync();
        settings["AUTH_DEFAULT_ACCESS"] = anonymousAccess;
        return (await MessageServerHost.StartAsync(settings), settings);
    }

    private static async Task<ProcessResult> TokensAsync(Dictionary<string, string?> settings, params string[] arguments) =>
        await ProcessRunner.RunAsync("dotnet", [ServerProcess.AssemblyPath, "tokens", .. arguments], ServerProcess.Environment(settings));

    private static async Task<string> CreateTokenAsync(Dictionary<string, string?> settings, string name, string read, string write)
    {
        var result = await TokensAsync(settings, "create", "--name", name, "--read", read, "--write", write);
        Assert.True(result.ExitCode == 0, result.Output);
        return Assert.Single(result.Output.Split('\n', StringSplitOptions.TrimEntries), line => line.StartsWith("mst_", StringComparison.Ordinal));
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, string? token, string? text = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (text is not null)
        {
            request.Content = new StringContent($"{{\"text\": \"{text}\"}}", Encoding.UTF8, "application/json");
        }
        return request;
    }

    [Fact]
    public async Task With_AUTH_DEFAULT_ACCESS_none_anonymous_calls_get_401_with_WWW_Authenticate_and_health_stays_open()
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;

        using var list = await host.Client.GetAsync($"/api/topics/{UniqueTopic()}/messages");
        using var publish = await host.Client.PostJsonAsync(UniqueTopic(), """{"text": "nope"}""");
        using var topics = await host.Client.GetAsync("/api/topics");
        using var health = await host.Client.GetAsync("/health");

        foreach (var response in new[] { list, publish, topics })
        {
            await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_malformed_topic_is_a_400_naming_the_topic_before_any_401()
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;

        foreach (var token in new[] { null, "mst_not-a-real-token" })
        {
            using var list = await host.Client.SendAsync(Request(HttpMethod.Get, "/api/topics/bad name!/messages", token));
            using var publish = await host.Client.SendAsync(Request(HttpMethod.Post, "/api/topics/bad name!/messages", token, text: "nope"));
            using var stream = await host.Client.SendAsync(Request(HttpMethod.Get, "/api/topics/bad name!/stream", token), HttpCompletionOption.ResponseHeadersRead);
            using var webhooks = await host.Client.SendAsync(Request(HttpMethod.Get, "/api/topics/bad name!/webhooks", token));
            using var search = await host.Client.SendAsync(Request(HttpMethod.Get, "/api/search?q=x&topic=bad%20name!", token));

            foreach (var response in new[] { list, publish, stream, webhooks, search })
            {
                await AssertProblemAsync(response, HttpStatusCode.BadRequest, "topic");
            }
        }
    }

    [Fact]
    public async Task With_AUTH_DEFAULT_ACCESS_read_only_anonymous_clients_read_but_may_not_write()
    {
        var (host, _) = await StartAsync("read-only");
        await using var _ = host;

        using var read = await host.Client.GetAsync($"/api/topics/{UniqueTopic()}/messages");
        using var write = await host.Client.PostJsonAsync(UniqueTopic(), """{"text": "nope"}""");

        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        await AssertProblemAsync(write, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_token_grants_exactly_its_topic_patterns()
    {
        var (host, settings) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(settings, "alerts-bot", "alerts*", "alerts*");
        var allowed = "alerts-" + Guid.NewGuid().ToString("N");
        var forbidden = UniqueTopic("ops");

        using var publish = await host.Client.SendAsync(Request(HttpMethod.Post, $"/api/topics/{allowed}/messages", token, "allowed"));
        using var read = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/topics/{allowed}/messages", token));
        using var publishElsewhere = await host.Client.SendAsync(Request(HttpMethod.Post, $"/api/topics/{forbidden}/messages", token, "forbidden"));
        using var readElsewhere = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/topics/{forbidden}/messages", token));

        Assert.Equal(HttpStatusCode.Created, publish.StatusCode);
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        await AssertProblemAsync(publishElsewhere, HttpStatusCode.Forbidden);
        await AssertProblemAsync(readElsewhere, HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Messages_by_id_and_the_topic_list_follow_the_token_rights()
    {
        var (host, settings) = await StartAsync("read-write");
        await using var _ = host;
        var reader = await CreateTokenAsync(settings, "reader", "news*", "");
        var news = "news-" + Guid.NewGuid().ToString("N");
        var secret = UniqueTopic("secret");
        var newsMessage = await host.Client.PublishAsync(news, "public news");
        var secretMessage = await host.Client.PublishAsync(secret, "hidden");

        using var readNews = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/messages/{newsMessage.Id}", reader));
        using var readSecret = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/messages/{secretMessage.Id}", reader));
        using var deleteNews = await host.Client.SendAsync(Request(HttpMethod.Delete, $"/api/messages/{newsMessage.Id}", reader));
        using var topics = await host.Client.SendAsync(Request(HttpMethod.Get, "/api/topics", reader));
        var listed = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<TopicListDto>(topics.Content))!.Topics.Select(t => t.Name);

        Assert.Equal(HttpStatusCode.OK, readNews.StatusCode);
        await AssertProblemAsync(readSecret, HttpStatusCode.NotFound);
        await AssertProblemAsync(deleteNews, HttpStatusCode.Forbidden);
        Assert.Contains(news, listed);
        Assert.DoesNotContain(secret, listed);
    }

    [Fact]
    public async Task EventSource_passes_the_token_as_access_token_and_a_header_works_too()
    {
        var (host, settings) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(settings, "watcher", "*", "*");
        var topic = UniqueTopic();

        await using var stream = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream?access_token={token}");
        using var withoutToken = await host.Client.GetAsync($"/api/topics/{topic}/stream");
        using var published = await host.Client.SendAsync(Request(HttpMethod.Post, $"/api/topics/{topic}/messages", token, "live"));

        Assert.Equal("live", Assert.Single(await stream.ReadMessagesAsync(1)).Text);
        await AssertProblemAsync(withoutToken, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_bad_token_gets_401_invalid_token_even_where_anonymous_access_is_allowed()
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;

        using var response = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/topics/{UniqueTopic()}/messages", "mst_not-a-real-token"));

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_revoked_token_stops_working_within_seconds_and_tokens_are_stored_only_as_hashes()
    {
        var (host, settings) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(settings, "short-lived", "*", "*");
        var path = $"/api/topics/{UniqueTopic()}/messages";
        using (var before = await host.Client.SendAsync(Request(HttpMethod.Get, path, token)))
        {
            Assert.Equal(HttpStatusCode.OK, before.StatusCode);
        }
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token))), await StoredHashAsync(settings, "short-lived"));

        var revoke = await TokensAsync(settings, "revoke", "short-lived");
        var list = await TokensAsync(settings, "list");

        Assert.Equal(0, revoke.ExitCode);
        Assert.Contains("revoked", list.Output, StringComparison.Ordinal);
        Assert.DoesNotContain(token, list.Output, StringComparison.Ordinal);
        var deadline = DateTime.UtcNow.AddSeconds(10);
        HttpStatusCode status;
        do
        {
            await Task.Delay(250);
            using var after = await host.Client.SendAsync(Request(HttpMethod.Get, path, token));
            status = after.StatusCode;
        }
        while (status != HttpStatusCode.Unauthorized && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.Unauthorized, status);
    }

    [Fact]
    public async Task The_tokens_command_refuses_bad_input_with_one_clear_line()
    {
        var settings = await CreateSettingsAsync();

        var noRights = await TokensAsync(settings, "create", "--name", "x");
        var badPattern = await TokensAsync(settings, "create", "--name", "x", "--read", "a.b");
        var unknownRevoke = await TokensAsync(settings, "revoke", "nobody");
        await CreateTokenAsync(settings, "twice", "*", "");
        var duplicate = await TokensAsync(settings, "create", "--name", "twice", "--read", "*");

        Assert.Equal(2, noRights.ExitCode);
        Assert.StartsWith("tokens: give the token some rights", noRights.Output, StringComparison.Ordinal);
        Assert.StartsWith("tokens: --read: 'a.b' is not a topic pattern", badPattern.Output, StringComparison.Ordinal);
        Assert.StartsWith("tokens: no active token is named 'nobody'", unknownRevoke.Output, StringComparison.Ordinal);
        Assert.StartsWith("tokens: a token named 'twice' already exists", duplicate.Output, StringComparison.Ordinal);
    }
}

public sealed class SqliteAccessTokenTests : AccessTokenContract, IDisposable
{
    private readonly TemporaryDirectory directory = new("ms-tokens-");

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(MessageServerHost.SqliteSettings(Path.Combine(directory.FullName, Guid.NewGuid().ToString("N"))));

    protected override async Task<string> StoredHashAsync(Dictionary<string, string?> settings, string name)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={settings["SQLITE_PATH"]}");
        await connection.OpenAsync();
        await using var command = new Microsoft.Data.Sqlite.SqliteCommand("SELECT token_hash FROM access_tokens WHERE name = $name", connection);
        command.Parameters.AddWithValue("$name", name);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        directory.Dispose();
    }
}

public sealed class PostgresAccessTokenTests(PostgresFixture postgres) : AccessTokenContract
{
    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());

    protected override Task<string> StoredHashAsync(Dictionary<string, string?> settings, string name) =>
        postgres.Server.QueryScalarAsync<string>(settings["POSTGRES_DB"]!, $"SELECT token_hash FROM access_tokens WHERE name = '{name}'");
}
