using System.Net;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using MessageServer.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>
/// Webhook deliveries to real HTTP receivers on loopback, run once per storage mode (see the subclasses at the
/// end). The servers retry after about a second (WEBHOOK_RETRY_SCHEDULE=1,1,1: four attempts in all).
/// </summary>
public abstract class WebhookDeliveryContract(ServerFixture server)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private HttpClient Client => server.Client;

    [Fact]
    public async Task Two_hundred_messages_arrive_in_order_signed_and_exactly_as_the_API_returns_them()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);
        var published = new List<MessageDto>();
        for (var i = 0; i < 200; i++)
        {
            published.Add(await Client.PublishAsync(topic, $"message {i} \"quoted\" <b>ü</b> 🎉"));
        }

        var delivered = await receiver.WaitForDeliveredAsync(200, Patience);

        Assert.Equal(published.Select(m => m.Id), delivered.Select(r => r.MessageId));
        Assert.All(delivered, r => Assert.True(r.SignatureValid, $"bad signature on {r.WebhookId}"));
        Assert.All(delivered, r => Assert.Equal("application/json", r.ContentType));
        Assert.All(delivered, r => Assert.Equal($"msg_{r.MessageId}_wh_{webhook.Id}", r.WebhookId));
        foreach (var sample in delivered.Take(3))
        {
            Assert.Equal(await Client.GetStringAsync($"/api/messages/{sample.MessageId}"), sample.Text);
        }
    }

    [Fact]
    public async Task Messages_published_before_the_webhook_was_created_are_not_sent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var topic = UniqueTopic("hook");
        await Client.PublishAsync(topic, "before");
        await Client.CreateWebhookAsync(topic, receiver);

        var after = await Client.PublishAsync(topic, "after");

        var delivered = await receiver.WaitForDeliveredAsync(1, Patience);
        Assert.Equal([after.Id], delivered.Select(r => r.MessageId));
        Assert.Single(receiver.Received);
    }

    [Fact]
    public async Task A_receiver_that_fails_the_first_attempts_receives_everything_in_order_after_retries()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (number, _) => number <= 2 ? new Reply(503) : Reply.Ok;
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);
        var published = new List<MessageDto>();
        for (var i = 0; i < 10; i++)
        {
            published.Add(await Client.PublishAsync(topic, $"message {i}"));
        }

        var delivered = await receiver.WaitForDeliveredAsync(10, Patience);

        Assert.Equal(published.Select(m => m.Id), delivered.Select(r => r.MessageId));
        var first = receiver.Received.Where(r => r.MessageId == published[0].Id).ToList();
        Assert.Equal([503, 503, 200], first.Select(r => r.AnsweredWith));
        Assert.Single(first.Select(r => r.WebhookId).Distinct()); // the same webhook-id on every retry
        var record = (await Client.DeliveriesAsync(webhook.Id, "?state=delivered&limit=200")).Single(d => d.MessageId == published[0].Id);
        Assert.Equal((3, 200), (record.Attempts, record.LastStatus));
    }

    [Fact]
    public async Task A_refused_connection_is_retried_like_a_failed_status()
    {
        var topic = UniqueTopic("hook");
        string url;
        await using (var gone = await WebhookReceiver.StartAsync())
        {
            url = gone.Url;
        }
        using var response = await Client.PostWebhookAsync(topic, new { url });
        var webhook = (await response.Content.ReadFromJsonAsync<WebhookDto>())!;

        var message = await Client.PublishAsync(topic, "nobody listens");

        var pending = await WebhookClient.EventuallyAsync(() => Client.DeliveriesAsync(webhook.Id, "?state=pending"),
            d => d.Count == 1 && d[0].Attempts >= 1, Patience, "a failed attempt");
        Assert.Equal(message.Id, pending[0].MessageId);
        Assert.Null(pending[0].LastStatus);
        Assert.False(string.IsNullOrEmpty(pending[0].LastError));
        Assert.NotNull(pending[0].NextAttemptAt);
    }

    [Fact]
    public async Task Retry_After_from_the_receiver_postpones_the_next_attempt()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (number, _) => number == 1 ? new Reply(429, RetryAfter: "4") : Reply.Ok;
        var topic = UniqueTopic("hook");
        await Client.CreateWebhookAsync(topic, receiver);

        await Client.PublishAsync(topic, "wait for it");

        await receiver.WaitForDeliveredAsync(1, Patience);
        var attempts = receiver.Received;
        Assert.Equal(2, attempts.Count);
        var waited = attempts[1].ReceivedAt - attempts[0].ReceivedAt;
        Assert.True(waited >= TimeSpan.FromSeconds(3.9), $"retried after {waited.TotalSeconds:0.00} s, though Retry-After said 4 (the schedule says 1)");
    }

    [Fact]
    public async Task A_410_disables_the_webhook_and_nothing_more_is_sent()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _) => new Reply(410);
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);

        var first = await Client.PublishAsync(topic, "one");
        await receiver.WaitForRequestsAsync(1, Patience);
        var disabled = await WebhookClient.EventuallyAsync(() => Client.GetWebhookAsync(webhook.Id), w => w.State == "disabled", Patience, "disabling");
        await Client.PublishAsync(topic, "two");
        await Task.Delay(2500); // two polls and a retry interval: time enough for a wrong delivery to show

        Assert.Equal("disabled", disabled.State);
        Assert.Single(receiver.Received);
        var failed = Assert.Single(await Client.DeliveriesAsync(webhook.Id, "?state=failed"));
        Assert.Equal((first.Id, 410), (failed.MessageId, failed.LastStatus));
    }

    [Fact]
    public async Task After_the_last_attempt_a_delivery_is_dead_lettered_then_listed_and_retried_on_request()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var healthy = false;
        receiver.Respond = (_, request) => healthy || request.Text.Contains("fine", StringComparison.Ordinal) ? Reply.Ok : new Reply(500);
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);

        var doomed = await Client.PublishAsync(topic, "doomed");
        var fine = await Client.PublishAsync(topic, "fine");
        await receiver.WaitForDeliveredAsync(1, Patience);

        var dead = Assert.Single(await Client.DeliveriesAsync(webhook.Id, "?state=failed"));
        Assert.Equal((doomed.Id, 4, 500), (dead.MessageId, dead.Attempts, dead.LastStatus));
        Assert.Contains("500", dead.LastError, StringComparison.Ordinal);
        Assert.Equal(4, receiver.Received.Count(r => r.MessageId == doomed.Id));
        Assert.Equal([fine.Id], receiver.Delivered().Select(r => r.MessageId)); // the dead letter no longer holds up the rest

        healthy = true;
        using var retry = await Client.PostAsync($"/api/webhooks/{webhook.Id}/retry", null);
        Assert.Equal(HttpStatusCode.Accepted, retry.StatusCode);
        Assert.Equal(1, (await retry.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("requeued").GetInt32());

        await receiver.WaitForDeliveredAsync(2, Patience);
        Assert.Empty(await Client.DeliveriesAsync(webhook.Id, "?state=failed"));
        var delivered = await Client.DeliveriesAsync(webhook.Id, "?state=delivered");
        Assert.Equal([fine.Id, doomed.Id], delivered.Select(d => d.MessageId)); // newest first
    }

    [Fact]
    public async Task Redirects_are_not_followed()
    {
        await using var target = await WebhookReceiver.StartAsync();
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _) => new Reply(307, Location: target.Url);
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);

        await Client.PublishAsync(topic, "go elsewhere");

        var pending = await WebhookClient.EventuallyAsync(() => Client.DeliveriesAsync(webhook.Id, "?state=pending"),
            d => d.Count == 1 && d[0].LastStatus == 307, Patience, "a 307 recorded as a failed attempt");
        Assert.Empty(target.Received);
        Assert.Equal(307, pending[0].LastStatus);
    }

    [Fact]
    public async Task Deliveries_and_metrics_show_pending_work_while_a_receiver_is_down()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _) => new Reply(503);
        var topic = UniqueTopic("hook");
        var webhook = await Client.CreateWebhookAsync(topic, receiver);
        var published = new List<MessageDto>();
        for (var i = 0; i < 3; i++)
        {
            published.Add(await Client.PublishAsync(topic, $"queued {i}"));
        }

        var pending = await WebhookClient.EventuallyAsync(() => Client.DeliveriesAsync(webhook.Id, "?state=pending"),
            d => d.Count == 3 && d[0].Attempts >= 1, Patience, "three pending deliveries, the first attempted");
        Assert.Equal(published.Select(m => m.Id), pending.Select(d => d.MessageId)); // in the order they will be sent
        Assert.All(pending.Skip(1), d => Assert.Equal(0, d.Attempts));
        // The gauges are process-wide and every server of this test process sets them, so the figures are read from
        // this server's store, and the scrape shows that they are exported.
        var summary = await server.Host.Services.GetRequiredService<IWebhookStore>().PendingAsync(CancellationToken.None);
        Assert.True(summary.Count >= 3 && summary.OldestAgeSeconds > 0, $"pending {summary.Count}, oldest {summary.OldestAgeSeconds} s");
        var metrics = await PrometheusText.ScrapeAsync(Client);
        Assert.Contains(metrics, sample => sample.Name == "message_server_webhook_pending_deliveries");
        Assert.Contains(metrics, sample => sample.Name == "message_server_webhook_oldest_pending_age_seconds");
        Assert.True(metrics.Sum("message_server_webhook_deliveries_total", ("outcome", "retried")) >= 1);
    }
}

public sealed class SqliteWebhookDeliveryTests(SqliteWebhookServerFixture server) : WebhookDeliveryContract(server), IClassFixture<SqliteWebhookServerFixture>;

public sealed class PostgresWebhookDeliveryTests(PostgresWebhookServerFixture server) : WebhookDeliveryContract(server), IClassFixture<PostgresWebhookServerFixture>;
