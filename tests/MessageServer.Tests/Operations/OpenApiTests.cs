using System.Text.Json;
using MessageServer.Tests.Infrastructure;
using Microsoft.Playwright;

namespace MessageServer.Tests.Operations;

public sealed class OpenApiTests(SqliteServerFixture server, BrowserFixture browser) : IClassFixture<SqliteServerFixture>
{
    public static TheoryData<string, string, string[]> Endpoints() => new()
    {
        { "/api/topics/{topic}/messages", "post", ["201", "400", "401", "403", "413", "415", "422", "429", "503"] },
        { "/api/topics/{topic}/messages", "get", ["200", "400", "401", "403", "503"] },
        { "/api/topics/{topic}/stream", "get", ["200", "400", "401", "403", "429", "503"] },
        { "/api/topics", "get", ["200", "401", "403", "503"] },
        { "/api/messages/{id}", "get", ["200", "401", "403", "404", "503"] },
        { "/api/messages/{id}", "delete", ["204", "401", "403", "404", "503"] },
        { "/api/search", "get", ["200", "400", "401", "403", "503"] },
        { "/health", "get", ["200"] },
        { "/ready", "get", ["200", "503"] },
        { "/api/topics/{topic}/webhooks", "post", ["201", "400", "401", "403", "413", "415", "422", "503"] },
        { "/api/topics/{topic}/webhooks", "get", ["200", "400", "401", "403", "503"] },
        { "/api/webhooks/{id}", "get", ["200", "401", "403", "404", "503"] },
        { "/api/webhooks/{id}", "delete", ["204", "401", "403", "404", "503"] },
        { "/api/webhooks/{id}/deliveries", "get", ["200", "400", "401", "403", "404", "503"] },
        { "/api/webhooks/{id}/retry", "post", ["202", "401", "403", "404", "503"] },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task The_OpenAPI_document_lists_the_endpoint_with_its_responses(string path, string method, string[] responses)
    {
        using var document = JsonDocument.Parse(await server.Client.GetStringAsync("/openapi/v1.json"));

        var operation = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method);

        Assert.False(string.IsNullOrWhiteSpace(operation.GetProperty("summary").GetString()));
        Assert.Equal(responses.Order(), operation.GetProperty("responses").EnumerateObject().Select(r => r.Name).Order());
    }

    [Fact]
    public async Task The_publish_operation_documents_both_body_types_and_problem_responses()
    {
        using var document = JsonDocument.Parse(await server.Client.GetStringAsync("/openapi/v1.json"));
        var publish = document.RootElement.GetProperty("paths").GetProperty("/api/topics/{topic}/messages").GetProperty("post");

        var bodyTypes = publish.GetProperty("requestBody").GetProperty("content").EnumerateObject().Select(c => c.Name);
        var badRequest = publish.GetProperty("responses").GetProperty("400").GetProperty("content");

        Assert.Equal(["application/json", "text/plain"], bodyTypes.Order());
        Assert.True(badRequest.TryGetProperty("application/problem+json", out _));
        Assert.Equal(Endpoints().Count, document.RootElement.GetProperty("paths").EnumerateObject().Sum(p => p.Value.EnumerateObject().Count()));
    }

    [Fact]
    public async Task The_search_operation_documents_its_query_parameters()
    {
        using var document = JsonDocument.Parse(await server.Client.GetStringAsync("/openapi/v1.json"));
        var search = document.RootElement.GetProperty("paths").GetProperty("/api/search").GetProperty("get");

        var parameters = search.GetProperty("parameters").EnumerateArray().ToDictionary(p => p.GetProperty("name").GetString()!);

        Assert.Equal(["before", "limit", "q", "topic"], parameters.Keys.Order());
        Assert.True(parameters["q"].GetProperty("required").GetBoolean());
        Assert.Equal(256, parameters["q"].GetProperty("schema").GetProperty("maxLength").GetInt32());
        Assert.Equal("query", parameters["limit"].GetProperty("in").GetString());
    }

    [Fact]
    public async Task The_docs_page_renders_every_operation_with_no_internet_access()
    {
        var context = await browser.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        var external = new List<string>();
        await page.RouteAsync("**/*", async route =>
        {
            var url = new Uri(route.Request.Url);
            if (url.Host is "127.0.0.1" or "localhost")
            {
                await route.ContinueAsync();
            }
            else
            {
                external.Add(route.Request.Url);
                await route.AbortAsync();
            }
        });

        await page.GotoAsync(new Uri(server.Host.BaseAddress, "/docs/").ToString());

        await Assertions.Expect(page.Locator(".opblock")).ToHaveCountAsync(Endpoints().Count, new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator(".info .title")).ToContainTextAsync("message-server");
        await Assertions.Expect(page.Locator(".opblock-summary-path").First).ToBeVisibleAsync();
        Assert.Empty(external);
    }
}
