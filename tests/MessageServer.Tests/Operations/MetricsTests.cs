using System.Globalization;
using System.Net;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Operations;

public sealed class MetricsTests(PostgresServerFixture server, PostgresFixture postgres) : IClassFixture<PostgresServerFixture>
{
    [Fact]
    public async Task Metrics_appear_in_Prometheus_format_and_move_after_traffic()
    {
        var client = server.Client;
        var topic = UniqueTopic("metrics");
        var before = await PrometheusText.ScrapeAsync(client);

        for (var i = 0; i < 5; i++)
        {
            await client.PublishAsync(topic, $"counted {i}");
        }
        await client.ListAsync(topic);
        using var missing = await client.GetAsync("/api/messages/999999999");
        await using var stream = await SseClient.ConnectAsync(server.Host.BaseAddress, $"/api/topics/{topic}/stream");
        var after = await PrometheusText.ScrapeAsync(client);

        Assert.True(after.Sum("message_server_messages_published_total") - before.Sum("message_server_messages_published_total") >= 5);
        Assert.True(after.Sum("message_server_publish_batch_size_count") > before.Sum("message_server_publish_batch_size_count"));
        var publishes = ("endpoint", "/api/topics/{topic}/messages");
        Assert.True(after.Sum("http_request_duration_seconds_count", publishes, ("method", "POST"), ("code", "2xx"))
            - before.Sum("http_request_duration_seconds_count", publishes, ("method", "POST"), ("code", "2xx")) >= 5);
        Assert.True(after.Sum("http_request_duration_seconds_count", ("endpoint", "/api/messages/{id}"), ("code", "4xx")) >= 1);
        Assert.True(after.Sum("http_request_duration_seconds_bucket", publishes, ("le", "+Inf")) >= 5);
        Assert.True(after.Sum("message_server_stream_subscribers") >= 1);
        Assert.Contains(after, s => s.Name == "process_cpu_seconds_total" && s.Value > 0);
        Assert.Contains(after, s => s.Name == "npgsql_db_client_connection_count" && s.Labels.ContainsKey("db_client_connection_state"));
        Assert.Contains(after, s => s.Name == "message_server_retention_deleted_total");
    }

    [Fact]
    public async Task No_metric_label_carries_a_topic_or_a_message_id()
    {
        var topic = UniqueTopic("cardinality");
        var message = await server.Client.PublishAsync(topic, "label check");
        using var read = await server.Client.GetAsync($"/api/messages/{message.Id}");

        var samples = await PrometheusText.ScrapeAsync(server.Client);

        Assert.DoesNotContain(samples, s => s.Labels.Any(label => label.Value.Contains(topic, StringComparison.Ordinal)
            || label.Value.Contains($"/api/messages/{message.Id.ToString(CultureInfo.InvariantCulture)}", StringComparison.Ordinal)
            || label.Key is "topic" or "id"));
    }

    [Fact]
    public async Task METRICS_off_removes_the_endpoint()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        settings["METRICS"] = "off";
        await using var host = await MessageServerHost.StartAsync(settings);

        using var response = await host.Client.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task METRICS_PORT_serves_metrics_on_that_port_only()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        var metricsPort = PostgresServer.FreePort();
        settings["METRICS_PORT"] = metricsPort.ToString(CultureInfo.InvariantCulture);
        await using var host = await MessageServerHost.StartAsync(settings);
        using var metricsClient = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{metricsPort}") };

        using var onMainPort = await host.Client.GetAsync("/metrics");
        var onMetricsPort = await PrometheusText.ScrapeAsync(metricsClient);

        Assert.Equal(HttpStatusCode.NotFound, onMainPort.StatusCode);
        Assert.Contains(onMetricsPort, s => s.Name == "message_server_messages_published_total");
    }
}
