using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

/// <summary>Acknowledged writes survive a crash and a database outage; nothing appears that nobody sent.</summary>
public sealed class DurabilityTests(PostgresFixture postgres)
{
    [Fact]
    public async Task After_kill_9_mid_stream_every_acknowledged_message_is_stored_exactly_as_sent_and_nothing_else()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        var settings = postgres.Server.SettingsFor(database);
        var topic = UniqueTopic("crash");
        using var load = await PublishingLoad.KillMidStreamAsync(settings, topic, acknowledged: 300);

        await using var restarted = await ServerProcess.StartAsync(settings);
        var stored = (await restarted.Client.ListAllAsync(topic)).ToDictionary(message => message.Id, message => message.Text);

        Assert.True(load.Acknowledged.Count > 100, $"only {load.Acknowledged.Count} publishes were acknowledged before the kill");
        Assert.All(load.Acknowledged, a => Assert.Equal(a.Value, stored.GetValueOrDefault(a.Key)));
        Assert.All(stored.Values, text => Assert.True(load.Sent.ContainsKey(text), $"stored but never sent: {text}"));
    }

    [Fact]
    public async Task While_the_database_is_down_requests_get_a_prompt_503_and_service_returns_within_5_s_of_it()
    {
        await using var database = await PostgresServer.StartAsync();
        await using var server = await MessageServerHost.StartAsync(database.SettingsFor("postgres"));
        var topic = UniqueTopic("outage");
        var acknowledged = new ConcurrentDictionary<long, string>();
        var statuses = new ConcurrentBag<(HttpStatusCode Status, string MediaType, bool RetryAfter, TimeSpan Took)>();
        using var stop = new CancellationTokenSource();
        var load = Enumerable.Range(0, 6).Select(worker => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                var clock = Stopwatch.StartNew();
                var text = $"w{worker} {i}";
                using var response = i % 2 == 0
                    ? await server.Client.PostAsJsonAsync($"/api/topics/{topic}/messages", new { text })
                    : await server.Client.GetAsync($"/api/topics/{topic}/messages?limit=5");
                statuses.Add((response.StatusCode, response.Content.Headers.ContentType?.MediaType ?? "", response.Headers.RetryAfter is not null, clock.Elapsed));
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    acknowledged[(await response.Content.ReadFromJsonAsync<MessageDto>())!.Id] = text;
                }
                else if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    await Task.Delay(50);
                }
            }
        })).ToList();

        await Task.Delay(1000);
        await database.StopAsync();
        await Task.Delay(2000);
        using (var ready = await server.Client.GetAsync("/ready"))
        using (var health = await server.Client.GetAsync("/health"))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        }
        await Task.Delay(8000);
        await database.StartAsync();
        var back = Stopwatch.StartNew();
        await server.WaitUntilReadyAsync(TimeSpan.FromSeconds(5));
        var recovered = back.Elapsed;
        await Task.Delay(500);
        await stop.CancelAsync();
        await Task.WhenAll(load);

        var during = statuses.Where(s => s.Status == HttpStatusCode.ServiceUnavailable).ToList();
        Assert.NotEmpty(during);
        Assert.All(statuses, s => Assert.Contains(s.Status, new[] { HttpStatusCode.Created, HttpStatusCode.OK, HttpStatusCode.ServiceUnavailable }));
        Assert.All(during, s => Assert.True(s.MediaType == "application/problem+json" && s.RetryAfter, "503 without problem+json or Retry-After"));
        Assert.True(statuses.Max(s => s.Took) < TimeSpan.FromSeconds(20), $"a request hung for {statuses.Max(s => s.Took)}");
        Assert.True(recovered < TimeSpan.FromSeconds(5), $"ready again after {recovered}");
        // Every acknowledged message is stored under its id with exactly the text that was sent.
        Assert.NotEmpty(acknowledged);
        Assert.Equal(acknowledged.Count, await database.CountStoredExactlyAsync("postgres", acknowledged));
    }
}
