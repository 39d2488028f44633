using System.Net;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Webhooks;

public sealed record WebhookDto(long Id, string Topic, string Url, string? Secret, string CreatedAt, string State);

public sealed record WebhookListDto(List<WebhookDto> Webhooks);

public sealed record DeliveryDto(long MessageId, string State, int Attempts, int? LastStatus, string? LastError, string? NextAttemptAt, string? DeliveredAt);

public sealed record DeliveryListDto(List<DeliveryDto> Deliveries);

public static class WebhookClient
{
    public static Task<HttpResponseMessage> PostWebhookAsync(this HttpClient client, string topic, object body) =>
        client.PostAsJsonAsync($"/api/topics/{topic}/webhooks", body);

    /// <summary>Creates a webhook pointing at the receiver and gives the receiver its secret.</summary>
    public static async Task<WebhookDto> CreateWebhookAsync(this HttpClient client, string topic, WebhookReceiver receiver)
    {
        using var response = await client.PostWebhookAsync(topic, new { url = receiver.Url });
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var webhook = (await response.Content.ReadFromJsonAsync<WebhookDto>())!;
        receiver.Secret = webhook.Secret;
        return webhook;
    }

    public static async Task<List<DeliveryDto>> DeliveriesAsync(this HttpClient client, long webhookId, string query = "")
    {
        using var response = await client.GetAsync($"/api/webhooks/{webhookId}/deliveries{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<DeliveryListDto>())!.Deliveries;
    }

    public static async Task<WebhookDto> GetWebhookAsync(this HttpClient client, long webhookId)
    {
        using var response = await client.GetAsync($"/api/webhooks/{webhookId}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<WebhookDto>())!;
    }

    /// <summary>Polls until <paramref name="condition"/> holds (deliveries are asynchronous), failing after <paramref name="timeout"/>.</summary>
    public static async Task<T> EventuallyAsync<T>(Func<Task<T>> read, Func<T, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var value = await read();
            if (condition(value))
            {
                return value;
            }
            Assert.True(DateTime.UtcNow < deadline, $"{what} did not happen within {timeout.TotalSeconds} s; last seen: {System.Text.Json.JsonSerializer.Serialize(value)}");
            await Task.Delay(100);
        }
    }
}
