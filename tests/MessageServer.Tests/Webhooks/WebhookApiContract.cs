using System.Net;
using System.Net.Http.Json;
using System.Text;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>The webhook management API, once per storage mode.</summary>
public abstract class WebhookApiContract(ServerFixture server)
{
    private HttpClient Client => server.Client;

    private const string Url = "http://127.0.0.1:9/hook";

    [Fact]
    public async Task Creating_a_webhook_returns_201_with_location_and_a_generated_Standard_Webhooks_secret()
    {
        var topic = UniqueTopic("api");
        using var response = await Client.PostWebhookAsync(topic, new { url = Url });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var webhook = (await response.Content.ReadFromJsonAsync<WebhookDto>())!;
        Assert.Equal($"/api/webhooks/{webhook.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal((topic, Url, "active"), (webhook.Topic, webhook.Url, webhook.State));
        Assert.StartsWith("whsec_", webhook.Secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(webhook.Secret!["whsec_".Length..]).Length);
        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$", webhook.CreatedAt);
    }

    [Fact]
    public async Task A_given_secret_is_kept_and_a_malformed_one_is_a_400_naming_secret()
    {
        var secret = "whsec_" + Convert.ToBase64String(Encoding.UTF8.GetBytes("a secret of at least 24 bytes"));
        using var kept = await Client.PostWebhookAsync(UniqueTopic("api"), new { url = Url, secret });
        using var malformed = await Client.PostWebhookAsync(UniqueTopic("api"), new { url = Url, secret = "hunter2" });

        Assert.Equal(secret, (await kept.Content.ReadFromJsonAsync<WebhookDto>())!.Secret);
        await AssertProblemAsync(malformed, HttpStatusCode.BadRequest, "secret");
    }

    [Fact]
    public async Task Listing_and_reading_webhooks_never_show_the_secret()
    {
        var topic = UniqueTopic("api");
        using var created = await Client.PostWebhookAsync(topic, new { url = Url });
        var webhook = (await created.Content.ReadFromJsonAsync<WebhookDto>())!;

        var listed = await Client.GetStringAsync($"/api/topics/{topic}/webhooks");
        var read = await Client.GetStringAsync($"/api/webhooks/{webhook.Id}");

        Assert.Equal([webhook with { Secret = null }], (System.Text.Json.JsonSerializer.Deserialize<WebhookListDto>(listed, JsonOptions)!).Webhooks);
        Assert.DoesNotContain("secret", listed, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", read, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Deleting_a_webhook_returns_204_and_then_it_is_gone()
    {
        using var created = await Client.PostWebhookAsync(UniqueTopic("api"), new { url = Url });
        var webhook = (await created.Content.ReadFromJsonAsync<WebhookDto>())!;

        using var deleted = await Client.DeleteAsync($"/api/webhooks/{webhook.Id}");
        using var again = await Client.DeleteAsync($"/api/webhooks/{webhook.Id}");
        using var read = await Client.GetAsync($"/api/webhooks/{webhook.Id}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await AssertProblemAsync(again, HttpStatusCode.NotFound);
        await AssertProblemAsync(read, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("/api/webhooks/999999999")]
    [InlineData("/api/webhooks/abc")]
    [InlineData("/api/webhooks/999999999/deliveries")]
    public async Task Unknown_webhooks_are_404_problems(string path)
    {
        using var response = await Client.GetAsync(path);

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Theory]
    [InlineData("""{"secret": null}""", "url")]
    [InlineData("""{"url": 42}""", "url")]
    [InlineData("""{"url": "not a url"}""", "url")]
    [InlineData("""{"url": "/relative/path"}""", "url")]
    [InlineData("""{"url": "https://example.com/", "url": "https://example.org/"}""", "url")]
    [InlineData("""{"url": "https://example.com/", "secret": null, "secret": null}""", "secret")]
    public async Task A_missing_or_malformed_url_is_a_400_naming_url(string body, string field)
    {
        using var response = await Client.PostAsync($"/api/topics/{UniqueTopic("api")}/webhooks", new StringContent(body, Encoding.UTF8, "application/json"));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_a_problem()
    {
        using var text = await Client.PostAsync($"/api/topics/{UniqueTopic("api")}/webhooks", new StringContent("http://x", Encoding.UTF8, "text/plain"));
        using var broken = await Client.PostAsync($"/api/topics/{UniqueTopic("api")}/webhooks", new StringContent("{\"url\":", Encoding.UTF8, "application/json"));

        await AssertProblemAsync(text, HttpStatusCode.UnsupportedMediaType);
        await AssertProblemAsync(broken, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("?state=lost", "state")]
    [InlineData("?limit=0", "limit")]
    [InlineData("?limit=201", "limit")]
    public async Task Bad_delivery_queries_are_400s_naming_the_parameter(string query, string field)
    {
        using var created = await Client.PostWebhookAsync(UniqueTopic("api"), new { url = Url });
        var webhook = (await created.Content.ReadFromJsonAsync<WebhookDto>())!;

        using var response = await Client.GetAsync($"/api/webhooks/{webhook.Id}/deliveries{query}");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new(System.Text.Json.JsonSerializerDefaults.Web);
}

public sealed class SqliteWebhookApiTests(SqliteWebhookServerFixture server) : WebhookApiContract(server), IClassFixture<SqliteWebhookServerFixture>;

public sealed class PostgresWebhookApiTests(PostgresWebhookServerFixture server) : WebhookApiContract(server), IClassFixture<PostgresWebhookServerFixture>;
