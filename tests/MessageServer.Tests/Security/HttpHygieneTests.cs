using System.Net;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

public sealed class HttpHygieneTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Fact]
    public async Task The_page_carries_security_headers_and_a_policy_without_inline_script()
    {
        using var response = await server.Client.GetAsync("/");

        var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", policy, StringComparison.Ordinal);
        Assert.DoesNotContain("unsafe-inline", policy.Split("style-src")[0], StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        Assert.Equal("no-referrer", response.Headers.GetValues("Referrer-Policy").Single());
        Assert.False(response.Headers.Contains("Server"), "no server banner");
    }

    [Fact]
    public async Task The_docs_page_runs_no_inline_script()
    {
        using var response = await server.Client.GetAsync("/docs/index.html");

        var policy = string.Join(";", response.Headers.GetValues("Content-Security-Policy"));
        var scripts = policy.Split(';').Select(d => d.Trim()).Single(d => d.StartsWith("script-src", StringComparison.Ordinal));
        Assert.Equal("script-src 'self'", scripts);
    }

    [Fact]
    public async Task CORS_is_off_unless_origins_are_configured()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/topics/{UniqueTopic()}/messages");
        request.Headers.Add("Origin", "https://evil.example");

        using var response = await server.Client.SendAsync(request);

        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task CORS_ORIGINS_allows_exactly_the_listed_origins()
    {
        using var directory = new TemporaryDirectory("ms-cors-");
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        settings["CORS_ORIGINS"] = "https://app.example.com";
        await using var host = await MessageServerHost.StartAsync(settings);

        var allowed = await PreflightAsync(host.Client, "https://app.example.com");
        var other = await PreflightAsync(host.Client, "https://evil.example");

        Assert.Equal("https://app.example.com", allowed);
        Assert.Null(other);
    }

    [Fact]
    public async Task An_oversized_header_is_refused_with_431_and_the_server_stays_healthy()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/health");
        request.Headers.Add("X-Padding", new string('a', 40 * 1024));

        using var response = await server.Client.SendAsync(request);
        using var health = await server.Client.GetAsync("/health");

        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    private static async Task<string?> PreflightAsync(HttpClient client, string origin)
    {
        using var request = new HttpRequestMessage(HttpMethod.Options, "/api/topics/t/messages");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "POST");
        using var response = await client.SendAsync(request);
        return response.Headers.TryGetValues("Access-Control-Allow-Origin", out var values) ? values.Single() : null;
    }
}

public sealed class RateLimitTests
{
    private static async Task<MessageServerHost> StartAsync(TemporaryDirectory directory, params (string Name, string Value)[] extra)
    {
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        settings["RATE_LIMIT"] = "on";
        settings["RATE_LIMIT_PUBLISHES_PER_SECOND"] = "1";
        settings["RATE_LIMIT_PUBLISH_BURST"] = "5";
        settings["RATE_LIMIT_STREAMS_PER_CLIENT"] = "2";
        foreach (var (name, value) in extra)
        {
            settings[name] = value;
        }
        return await MessageServerHost.StartAsync(settings);
    }

    [Fact]
    public async Task Publishing_over_the_limit_gets_429_problem_with_Retry_After_and_stores_nothing_more()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var host = await StartAsync(directory);
        var topic = UniqueTopic();

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 12; i++)
        {
            var response = await host.Client.PostJsonAsync(topic, $$"""{"text": "burst {{i}}"}""");
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.TooManyRequests && limited is null)
            {
                limited = response;
            }
        }

        Assert.NotNull(limited);
        await AssertProblemAsync(limited, HttpStatusCode.TooManyRequests);
        Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        Assert.Equal(statuses.Count(s => s == HttpStatusCode.Created), (await host.Client.ListAsync(topic)).Count);
        Assert.InRange(statuses.Count(s => s == HttpStatusCode.Created), 5, 7);
    }

    [Fact]
    public async Task Open_streams_are_capped_per_client_address()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var host = await StartAsync(directory);

        await using var first = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{UniqueTopic()}/stream");
        await using var second = await SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{UniqueTopic()}/stream");
        using var third = await host.Client.GetAsync($"/api/topics/{UniqueTopic()}/stream");

        await AssertProblemAsync(third, HttpStatusCode.TooManyRequests);
    }

    [Fact]
    public async Task X_Forwarded_For_counts_only_from_a_trusted_proxy()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var trusting = await StartAsync(directory, ("TRUSTED_PROXIES", "127.0.0.1/32"));
        using var otherDirectory = new TemporaryDirectory("ms-rate-");
        await using var distrusting = await StartAsync(otherDirectory);

        // Behind a trusted proxy each forwarded client has a budget of its own; otherwise the header is ignored.
        var trustedCreated = 0;
        var untrustedCreated = 0;
        for (var i = 0; i < 8; i++)
        {
            trustedCreated += await PublishAsAsync(trusting.Client, $"203.0.113.{i}") == HttpStatusCode.Created ? 1 : 0;
            untrustedCreated += await PublishAsAsync(distrusting.Client, $"203.0.113.{i}") == HttpStatusCode.Created ? 1 : 0;
        }

        Assert.Equal(8, trustedCreated);
        Assert.InRange(untrustedCreated, 5, 6);
    }

    [Fact]
    public async Task IPv6_clients_share_a_budget_per_64_bit_network_and_IPv4_clients_have_one_per_address()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var host = await StartAsync(directory, ("TRUSTED_PROXIES", "127.0.0.1/32"));

        // One host with a /64 could otherwise take a fresh address, and a fresh budget, for every request.
        var sameNetwork = 0;
        var ipv4Addresses = 0;
        for (var i = 1; i <= 8; i++)
        {
            sameNetwork += await PublishAsAsync(host.Client, $"2001:db8:1:2::{i:x}") == HttpStatusCode.Created ? 1 : 0;
            ipv4Addresses += await PublishAsAsync(host.Client, $"198.51.100.{i}") == HttpStatusCode.Created ? 1 : 0;
        }
        var otherNetwork = await PublishAsAsync(host.Client, "2001:db8:1:3::1");

        Assert.InRange(sameNetwork, 5, 7);
        Assert.Equal(8, ipv4Addresses);
        Assert.Equal(HttpStatusCode.Created, otherNetwork);
    }

    [Fact]
    public async Task RATE_LIMIT_IPV6_PREFIX_sets_the_size_of_an_IPv6_clients_network()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var host = await StartAsync(directory, ("TRUSTED_PROXIES", "127.0.0.1/32"), ("RATE_LIMIT_IPV6_PREFIX", "128"));

        var created = 0;
        for (var i = 1; i <= 8; i++)
        {
            created += await PublishAsAsync(host.Client, $"2001:db8:1:2::{i:x}") == HttpStatusCode.Created ? 1 : 0;
        }

        Assert.Equal(8, created);
    }

    [Fact]
    public async Task RATE_LIMIT_off_lets_a_burst_through()
    {
        using var directory = new TemporaryDirectory("ms-rate-");
        await using var host = await StartAsync(directory, ("RATE_LIMIT", "off"));
        var topic = UniqueTopic();

        var created = await Task.WhenAll(Enumerable.Range(0, 30).Select(async i =>
        {
            using var response = await host.Client.PostJsonAsync(topic, $$"""{"text": "free {{i}}"}""");
            return response.StatusCode;
        }));

        Assert.All(created, status => Assert.Equal(HttpStatusCode.Created, status));
    }

    private static async Task<HttpStatusCode> PublishAsAsync(HttpClient client, string address)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{UniqueTopic()}/messages")
        {
            Content = new StringContent("""{"text": "forwarded"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Forwarded-For", address);
        using var response = await client.SendAsync(request);
        return response.StatusCode;
    }
}
