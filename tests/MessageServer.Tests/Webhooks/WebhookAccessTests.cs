using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>Managing a topic's webhooks needs write access to the topic, with the same 401 and 403 as publishing.</summary>
public sealed class WebhookAccessTests
{
    [Fact]
    public async Task Only_callers_who_may_write_to_the_topic_manage_its_webhooks()
    {
        using var directory = new TemporaryDirectory("ms-webhook-access-");
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        settings["AUTH_DEFAULT_ACCESS"] = "read-only";
        await using var host = await MessageServerHost.StartAsync(settings);
        var created = await ProcessRunner.RunAsync("dotnet",
            [ServerProcess.AssemblyPath, "tokens", "create", "--name", "hooks", "--read", "*", "--write", "alerts-*"], ServerProcess.Environment(settings));
        var token = Assert.Single(created.Output.Split('\n', StringSplitOptions.TrimEntries), line => line.StartsWith("mst_", StringComparison.Ordinal));
        var topic = UniqueTopic("alerts");
        var body = new { url = "http://93.184.215.14/hook" };

        using var anonymous = await host.Client.PostWebhookAsync(topic, body);
        using var allowed = await SendAsync(host.Client, HttpMethod.Post, $"/api/topics/{topic}/webhooks", token, body);
        using var otherTopic = await SendAsync(host.Client, HttpMethod.Post, $"/api/topics/{UniqueTopic("other")}/webhooks", token, body);
        var webhook = (await allowed.Content.ReadFromJsonAsync<WebhookDto>())!;
        using var anonymousRead = await host.Client.GetAsync($"/api/webhooks/{webhook.Id}");
        using var anonymousList = await host.Client.GetAsync($"/api/topics/{topic}/webhooks");
        using var tokenRead = await SendAsync(host.Client, HttpMethod.Get, $"/api/webhooks/{webhook.Id}", token);

        await AssertProblemAsync(anonymous, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.Created, allowed.StatusCode);
        await AssertProblemAsync(otherTopic, HttpStatusCode.Forbidden);
        await AssertProblemAsync(anonymousRead, HttpStatusCode.Unauthorized);
        await AssertProblemAsync(anonymousList, HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, tokenRead.StatusCode);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string path, string token, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }
        return await client.SendAsync(request);
    }
}
