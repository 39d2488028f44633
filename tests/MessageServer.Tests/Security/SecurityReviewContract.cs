using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using MessageServer.Security;
using MessageServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

/// <summary>
/// The findings of the security review (issue #17), each reproduced as it was reported, in both storage modes.
/// Tokens: "team" reads and writes team-*, "wo" only writes team-*, "admin" reads and writes everything.
/// </summary>
public abstract class SecurityReviewContract
{
    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    /// <summary>Runs SQL against the server's database behind its back, as an operator (or an old version) would.</summary>
    protected abstract Task ExecuteSqlAsync(Dictionary<string, string?> settings, string sql);

    private async Task<(MessageServerHost Host, Dictionary<string, string?> Settings)> StartAsync(
        string anonymousAccess, Action<IServiceCollection>? configureServices = null)
    {
        var settings = await CreateSettingsAsync();
        settings["AUTH_DEFAULT_ACCESS"] = anonymousAccess;
        return (await MessageServerHost.StartAsync(settings, configureServices: configureServices), settings);
    }

    private static async Task<string> CreateTokenAsync(MessageServerHost host, string name, string read, string write)
    {
        var token = TokenSecrets.NewToken();
        var tokens = host.Services.GetRequiredService<ITokenStore>();
        Assert.True(await tokens.CreateTokenAsync(name, TokenSecrets.HashHex(token), read, write, CancellationToken.None));
        return token;
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, string? token = null, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        return request;
    }

    private static async Task<MessageDto> PublishAsync(MessageServerHost host, string topic, string token, string text = "hello")
    {
        using var response = await host.Client.SendAsync(Request(HttpMethod.Post, $"/api/topics/{topic}/messages", token, JsonSerializer.Serialize(new { text })));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<MessageDto>())!;
    }

    /// <summary>A problem body with the request's own id and the per-request trace id taken out.</summary>
    private static async Task<string> ComparableBodyAsync(HttpResponseMessage response, long id)
    {
        var problem = JsonSerializer.Deserialize<Dictionary<string, JsonElement>>(await response.Content.ReadAsStringAsync())!;
        problem.Remove("traceId");
        return string.Join("\n", problem.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"))
            .Replace($"'{id}'", "'{id}'", StringComparison.Ordinal);
    }

    private static async Task<TimeSpan> TimeUntilRevokedAsync(SseClient stream, Stopwatch since)
    {
        while (true)
        {
            var next = await stream.NextAsync(TimeSpan.FromSeconds(15));
            if (next.Event == "revoked")
            {
                return since.Elapsed;
            }
        }
    }

    // Finding (medium): revocation does not reach open streams.

    [Fact]
    public async Task Revoking_a_token_ends_its_open_streams_within_5_seconds_with_a_revoked_event_and_a_long_retry()
    {
        var (host, settings) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(host, "team", "team-*", "team-*");
        var topic = UniqueTopic("team");
        await using var stream = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream", bearerToken: token);
        await PublishAsync(host, topic, token, "before");
        await stream.ReadMessagesAsync(1);

        var revoke = await ProcessRunner.RunAsync("dotnet", [ServerProcess.AssemblyPath, "tokens", "revoke", "team"], ServerProcess.Environment(settings));
        var sinceRevoked = Stopwatch.StartNew();
        Assert.True(revoke.ExitCode == 0, revoke.Output);
        var latency = await TimeUntilRevokedAsync(stream, sinceRevoked);
        TestContext.Current.TestOutputHelper?.WriteLine($"revocation reached the open stream after {latency.TotalMilliseconds:0} ms");

        Assert.True(latency < TimeSpan.FromSeconds(5), $"The stream heard of the revocation after {latency}");
        Assert.True(stream.Retry >= (long)TimeSpan.FromHours(1).TotalMilliseconds, $"retry: {stream.Retry}");
        await stream.Closed.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Narrowing_a_tokens_patterns_ends_its_streams_of_topics_it_may_no_longer_read()
    {
        var (host, settings) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(host, "team", "team-*", "team-*");
        var topic = UniqueTopic("team");
        await using var stream = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream", bearerToken: token);

        await ExecuteSqlAsync(settings, "UPDATE access_tokens SET read_patterns = 'ops-*' WHERE name = 'team'");
        var latency = await TimeUntilRevokedAsync(stream, Stopwatch.StartNew());

        Assert.True(latency < TimeSpan.FromSeconds(5), $"The stream heard of the change after {latency}");
        await stream.Closed.WaitAsync(TimeSpan.FromSeconds(5));
    }

    // Finding (low): topic-name and existence oracle.

    [Theory]
    [InlineData("GET")]
    [InlineData("DELETE")]
    public async Task A_message_in_a_topic_the_token_may_not_read_gets_the_same_404_as_a_missing_one(string method)
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;
        var admin = await CreateTokenAsync(host, "admin", "*", "*");
        var writeOnly = await CreateTokenAsync(host, "wo", "", "team-*");
        var secretTopic = UniqueTopic("secret");
        var secret = await PublishAsync(host, secretTopic, admin);
        var missingId = secret.Id + 1_000_000;

        using var existing = await host.Client.SendAsync(Request(new HttpMethod(method), $"/api/messages/{secret.Id}", writeOnly));
        using var missing = await host.Client.SendAsync(Request(new HttpMethod(method), $"/api/messages/{missingId}", writeOnly));
        using var stillThere = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/messages/{secret.Id}", admin));

        await AssertProblemAsync(existing, HttpStatusCode.NotFound);
        await AssertProblemAsync(missing, HttpStatusCode.NotFound);
        Assert.Equal(await ComparableBodyAsync(missing, missingId), await ComparableBodyAsync(existing, secret.Id));
        Assert.DoesNotContain(secretTopic, await existing.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, stillThere.StatusCode);
    }

    [Fact]
    public async Task Anonymous_clients_of_a_closed_server_get_the_same_404_for_existing_and_missing_messages()
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;
        var admin = await CreateTokenAsync(host, "admin", "*", "*");
        var message = await PublishAsync(host, UniqueTopic("secret"), admin);
        var missingId = message.Id + 1_000_000;

        using var existing = await host.Client.GetAsync($"/api/messages/{message.Id}");
        using var missing = await host.Client.GetAsync($"/api/messages/{missingId}");

        await AssertProblemAsync(existing, HttpStatusCode.NotFound);
        await AssertProblemAsync(missing, HttpStatusCode.NotFound);
        Assert.Equal(await ComparableBodyAsync(missing, missingId), await ComparableBodyAsync(existing, message.Id));
    }

    [Fact]
    public async Task A_403_does_not_name_the_topic()
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;
        var writeOnly = await CreateTokenAsync(host, "wo", "", "team-*");
        var topic = UniqueTopic("secret");

        using var read = await host.Client.SendAsync(Request(HttpMethod.Get, $"/api/topics/{topic}/messages", writeOnly));

        await AssertProblemAsync(read, HttpStatusCode.Forbidden);
        Assert.DoesNotContain(topic, await read.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    // Finding (low): a trailing newline passes the topic rule.

    [Theory]
    [InlineData("POST", "messages")]
    [InlineData("GET", "messages")]
    [InlineData("GET", "stream")]
    public async Task A_topic_with_a_trailing_newline_is_refused_with_400_naming_the_topic(string method, string resource)
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var topic = UniqueTopic("team");

        using var response = await host.Client.SendAsync(Request(new HttpMethod(method), $"/api/topics/{topic}%0A/{resource}",
            json: method == "POST" ? """{"text": "smuggled"}""" : null));
        using var topics = await host.Client.GetAsync("/api/topics");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "topic");
        Assert.DoesNotContain(topic, await topics.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Stored_topics_that_break_the_rule_are_reported_at_start_up()
    {
        var (first, settings) = await StartAsync("read-write");
        await first.DisposeAsync();
        await ExecuteSqlAsync(settings, InsertMessageSql("team-a\n"));
        var log = new CapturedLog();

        await using var host = await MessageServerHost.StartAsync(settings, configureServices: services => services.AddSingleton<ILoggerProvider>(log));

        var warning = await log.WaitForAsync("break the topic rule", TimeSpan.FromSeconds(15));
        Assert.Contains("\"team-a\\n\" (1 messages)", warning, StringComparison.Ordinal);
    }

    /// <summary>An INSERT of one message in this store's dialect.</summary>
    protected abstract string InsertMessageSql(string topic);

    // Finding (low): idempotency keys are global.

    [Fact]
    public async Task Equal_idempotency_keys_of_different_credentials_never_meet()
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var team = await CreateTokenAsync(host, "team", "team-*", "team-*");
        var admin = await CreateTokenAsync(host, "admin", "*", "*");
        var key = "order-" + Guid.NewGuid().ToString("N");

        using var byTeam = await PublishWithKeyAsync(host, UniqueTopic("team"), team, key, "team's order");
        using var byAdmin = await PublishWithKeyAsync(host, UniqueTopic("admin"), admin, key, "admin's order");
        using var byAnonymous = await PublishWithKeyAsync(host, UniqueTopic("anon"), null, key, "anonymous order");

        Assert.Equal(HttpStatusCode.Created, byTeam.StatusCode);
        Assert.Equal(HttpStatusCode.Created, byAdmin.StatusCode);
        Assert.Equal(HttpStatusCode.Created, byAnonymous.StatusCode);
        Assert.False(byAdmin.Headers.Contains("Idempotent-Replayed") || byAnonymous.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task A_retry_with_the_same_credential_still_replays_and_a_different_request_still_conflicts()
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var team = await CreateTokenAsync(host, "team", "team-*", "team-*");
        var topic = UniqueTopic("team");
        var key = "order-" + Guid.NewGuid().ToString("N");

        using var first = await PublishWithKeyAsync(host, topic, team, key, "once");
        using var retry = await PublishWithKeyAsync(host, topic, team, key, "once");
        using var other = await PublishWithKeyAsync(host, topic, team, key, "something else");

        Assert.Equal((await first.Content.ReadFromJsonAsync<MessageDto>())!.Id, (await retry.Content.ReadFromJsonAsync<MessageDto>())!.Id);
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        var conflict = await AssertProblemAsync(other, HttpStatusCode.UnprocessableEntity);
        Assert.Contains($"'{key}'", conflict.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> PublishWithKeyAsync(MessageServerHost host, string topic, string? token, string key, string text)
    {
        using var request = Request(HttpMethod.Post, $"/api/topics/{topic}/messages", token, JsonSerializer.Serialize(new { text }));
        request.Headers.Add("Idempotency-Key", key);
        return await host.Client.SendAsync(request);
    }

    // Findings (info).

    [Theory]
    [InlineData("{0}")]
    [InlineData("Token {0}")]
    [InlineData("Basic {0}")]
    public async Task A_token_sent_without_the_Bearer_scheme_is_refused(string header)
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(host, "team", "team-*", "team-*");
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/topics/{UniqueTopic("team")}/messages");
        request.Headers.TryAddWithoutValidation("Authorization", string.Format(System.Globalization.CultureInfo.InvariantCulture, header, token));

        using var response = await host.Client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("invalid_token", response.Headers.WwwAuthenticate.Single().Parameter, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_need_a_token_when_AUTH_DEFAULT_ACCESS_is_none()
    {
        var (host, _) = await StartAsync("none");
        await using var _ = host;
        var token = await CreateTokenAsync(host, "prometheus", "", "metrics-*");

        using var anonymous = await host.Client.GetAsync("/metrics");
        using var withToken = await host.Client.SendAsync(Request(HttpMethod.Get, "/metrics", token));

        await AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, withToken.StatusCode);
        Assert.Contains("message_server_", await withToken.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POST")]
    [InlineData("DELETE")]
    public async Task A_state_changing_request_from_a_foreign_origin_is_refused_with_403(string method)
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var topic = UniqueTopic();
        var message = await host.Client.PublishAsync(topic, "keep me");
        var path = method == "POST" ? $"/api/topics/{topic}/messages" : $"/api/messages/{message.Id}";
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        // What a cross-site <form enctype="text/plain"> sends: no preflight, so CORS alone does not stop it.
        request.Content = method == "POST" ? new StringContent("forged", Encoding.UTF8, "text/plain") : null;
        request.Headers.Add("Origin", "https://evil.example");

        using var response = await host.Client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Equal(["keep me"], (await host.Client.ListAsync(topic)).Select(m => m.Text));
    }

    [Fact]
    public async Task The_servers_own_pages_and_requests_without_an_Origin_may_change_data()
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var topic = UniqueTopic();
        using var ownPage = Request(HttpMethod.Post, $"/api/topics/{topic}/messages", json: """{"text": "from the page"}""");
        ownPage.Headers.Add("Origin", host.BaseAddress.GetLeftPart(UriPartial.Authority));
        using var noOrigin = Request(HttpMethod.Post, $"/api/topics/{topic}/messages", json: """{"text": "from curl"}""");

        using var fromPage = await host.Client.SendAsync(ownPage);
        using var fromCurl = await host.Client.SendAsync(noOrigin);

        Assert.Equal(HttpStatusCode.Created, fromPage.StatusCode);
        Assert.Equal(HttpStatusCode.Created, fromCurl.StatusCode);
    }

    [Theory]
    [InlineData("https://app.example.com", "app.example.com", null, HttpStatusCode.Created)]
    [InlineData("https://app.example.com", "127.0.0.1:5002", "app.example.com", HttpStatusCode.Created)]
    [InlineData("http://[::1]:5002", "[::1]:5002", null, HttpStatusCode.Created)]
    [InlineData("https://app.example.com:8443", "app.example.com", null, HttpStatusCode.Forbidden)]
    [InlineData("null", "app.example.com", null, HttpStatusCode.Forbidden)]
    public async Task An_Origin_counts_as_the_servers_own_when_it_names_the_host_the_browser_asked_for(
        string origin, string host, string? forwardedHost, HttpStatusCode expected)
    {
        var (server, _) = await StartAsync("read-write");
        await using var _ = server;
        using var request = Request(HttpMethod.Post, $"/api/topics/{UniqueTopic()}/messages", json: """{"text": "hi"}""");
        request.Headers.Add("Origin", origin);
        request.Headers.Host = host;
        if (forwardedHost is not null)
        {
            request.Headers.Add("X-Forwarded-Host", forwardedHost);
        }

        using var response = await server.Client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
    }

    [Fact]
    public async Task The_OpenAPI_document_names_a_relative_server_whatever_the_Host_header_says()
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        using var request = new HttpRequestMessage(HttpMethod.Get, "/openapi/v1.json");
        request.Headers.Host = "evil.example";

        using var response = await host.Client.SendAsync(request);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(["/"], document.RootElement.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("url").GetString()));
    }

    [Theory]
    [InlineData("""{"text": "first", "text": "second"}""", "text")]
    [InlineData("""{"text": "hi", "author": "ann", "author": "admin"}""", "author")]
    public async Task Repeated_JSON_fields_are_refused_with_400_naming_the_field(string body, string field)
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var topic = UniqueTopic();

        using var response = await host.Client.PostJsonAsync(topic, body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Empty(await host.Client.ListAsync(topic));
    }

    [Theory]
    [InlineData("admin\u202E")]
    [InlineData("ad\u200Bmin")]
    [InlineData("\u2066admin\u2069")]
    [InlineData("\uFEFFadmin")]
    public async Task An_author_with_bidi_or_zero_width_characters_is_refused_with_400_naming_author(string author)
    {
        var (host, _) = await StartAsync("read-write");
        await using var _ = host;
        var topic = UniqueTopic();

        using var response = await host.Client.PostJsonAsync(topic, JsonSerializer.Serialize(new { text = "hi", author }));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "author");
        Assert.Empty(await host.Client.ListAsync(topic));
    }

    /// <summary>Log lines of the server, for what it reports at start-up.</summary>
    private sealed class CapturedLog : ILoggerProvider
    {
        private readonly ConcurrentQueue<string> lines = new();

        public ILogger CreateLogger(string categoryName) => new Logger(lines);

        public async Task<string> WaitForAsync(string text, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (DateTime.UtcNow < deadline)
            {
                if (lines.FirstOrDefault(line => line.Contains(text, StringComparison.Ordinal)) is { } line)
                {
                    return line;
                }
                await Task.Delay(100);
            }
            throw new TimeoutException($"No log line contains '{text}'.");
        }

        public void Dispose()
        {
        }

        private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                lines.Enqueue(formatter(state, exception));
        }
    }
}

public sealed class SqliteSecurityReviewTests : SecurityReviewContract, IDisposable
{
    private readonly TemporaryDirectory directory = new("ms-review-");

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(MessageServerHost.SqliteSettings(Path.Combine(directory.FullName, Guid.NewGuid().ToString("N"))));

    protected override async Task ExecuteSqlAsync(Dictionary<string, string?> settings, string sql)
    {
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={settings["SQLITE_PATH"]}");
        await connection.OpenAsync();
        await using var command = new Microsoft.Data.Sqlite.SqliteCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override string InsertMessageSql(string topic) =>
        $"INSERT INTO messages (topic, author, text, created_at_us) VALUES ('{topic}', 'old', 'stored before the rule', 0)";

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        directory.Dispose();
    }
}

public sealed class PostgresSecurityReviewTests(PostgresFixture postgres) : SecurityReviewContract
{
    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());

    protected override async Task ExecuteSqlAsync(Dictionary<string, string?> settings, string sql)
    {
        await using var connection = new Npgsql.NpgsqlConnection(postgres.Server.ConnectionString(settings["POSTGRES_DB"]!));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    protected override string InsertMessageSql(string topic) =>
        $"INSERT INTO messages (topic, author, text) VALUES ('{topic}', 'old', 'stored before the rule')";
}
