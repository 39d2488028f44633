using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>Two instances on one PostgreSQL database deliver one webhook: never both at once, nothing missing.</summary>
public sealed class WebhookMultiInstanceTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Two_instances_never_send_to_a_webhook_at_the_same_time_and_together_miss_nothing()
    {
        var settings = WebhookTestSettings.With(postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync()));
        await using var first = await MessageServerHost.StartAsync(settings);
        await using var second = await MessageServerHost.StartAsync(settings);
        await using var receiver = await WebhookReceiver.StartAsync();
        // Slow enough answers that two senders at once would overlap.
        receiver.Respond = (_, _) => new Reply(200, Delay: TimeSpan.FromMilliseconds(5));
        var topic = UniqueTopic("multi");
        await first.Client.CreateWebhookAsync(topic, receiver);

        // Both instances publish, from several clients at once; both are woken by every message.
        var published = (await Task.WhenAll(Enumerable.Range(0, 4).Select(async worker =>
        {
            var ids = new List<long>();
            var client = worker % 2 == 0 ? first.Client : second.Client;
            for (var i = 0; i < 100; i++)
            {
                ids.Add((await client.PublishAsync(topic, $"worker {worker} message {i}")).Id);
            }
            return ids;
        }))).SelectMany(ids => ids).Order().ToList();
        await receiver.WaitForDeliveredAsync(200, TimeSpan.FromSeconds(60));
        await first.DisposeAsync(); // the rest is up to the second instance, mid-delivery
        var delivered = await receiver.WaitForDeliveredAsync(published.Count, TimeSpan.FromSeconds(60));

        Assert.Equal(published, delivered.Select(r => r.MessageId));
        Assert.Equal(1, receiver.MaxInFlight);
        Assert.InRange(receiver.Received.Count - published.Count, 0, 1);
    }
}
