using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace MessageServer.Tests.Infrastructure;

/// <summary>The shapes the API returns, read back the way a client would.</summary>
public sealed record MessageDto(long Id, string Topic, string Author, string Text, string CreatedAt);

public sealed record MessageListDto(List<MessageDto> Messages);

public sealed record TopicDto(string Name, long MessageCount, string LastMessageAt);

public sealed record TopicListDto(List<TopicDto> Topics);

public static class ApiClient
{
    public static string UniqueTopic(string prefix = "t") => $"{prefix}-{Guid.NewGuid():N}";

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string topic, string json) =>
        client.PostRawAsync(topic, "application/json", Encoding.UTF8.GetBytes(json));

    public static async Task<HttpResponseMessage> PostRawAsync(this HttpClient client, string topic, string? contentType, byte[] body, string? author = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages") { Content = new ByteArrayContent(body) };
        if (contentType is not null)
        {
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        if (author is not null)
        {
            request.Headers.Add("X-Author", author);
        }
        return await client.SendAsync(request);
    }

    public static async Task<MessageDto> PublishAsync(this HttpClient client, string topic, string text, string? author = null)
    {
        var body = JsonSerializer.Serialize(new { text, author });
        using var response = await client.PostJsonAsync(topic, body);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<MessageDto>())!;
    }

    public static async Task<List<MessageDto>> ListAsync(this HttpClient client, string topic, string query = "")
    {
        using var response = await client.GetAsync($"/api/topics/{topic}/messages{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<MessageListDto>())!.Messages;
    }

    /// <summary>Every message of the topic, oldest first, read page by page.</summary>
    public static async Task<List<MessageDto>> ListAllAsync(this HttpClient client, string topic)
    {
        var all = new List<MessageDto>();
        while (true)
        {
            var page = await client.ListAsync(topic, $"?after={(all.Count == 0 ? 0 : all[^1].Id)}&limit=200");
            all.AddRange(page);
            if (page.Count < 200)
            {
                return all;
            }
        }
    }

    /// <summary>Asserts an RFC 9457 problem response with the given status (and, when given, the field it names).</summary>
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? field = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        if (field is not null)
        {
            Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _), $"The problem should name the field '{field}': {body}");
            Assert.Contains(field, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }
        return problem;
    }
}
