using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Operations;

public sealed class GracefulShutdownTests(PostgresFixture postgres)
{
    [Fact]
    public async Task SIGTERM_under_publishing_load_exits_0_within_5_s_and_loses_no_acknowledged_message()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        var topic = UniqueTopic("sigterm");
        var acknowledged = new ConcurrentDictionary<long, string>();
        var server = await ServerProcess.StartAsync(postgres.Server.SettingsFor(database));
        await using (server)
        {
            using var stop = new CancellationTokenSource();
            var publishers = Enumerable.Range(0, 16).Select(worker => Task.Run(async () =>
            {
                using var client = new HttpClient { BaseAddress = server.BaseAddress };
                for (var i = 0; !stop.IsCancellationRequested; i++)
                {
                    var text = $"worker {worker} message {i}";
                    try
                    {
                        using var response = await client.PostAsJsonAsync($"/api/topics/{topic}/messages", new { text });
                        if (response.StatusCode == HttpStatusCode.Created)
                        {
                            var message = await response.Content.ReadFromJsonAsync<MessageDto>();
                            acknowledged[message!.Id] = text;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        // The server has stopped listening: not acknowledged, so not expected to be stored.
                        return;
                    }
                }
            })).ToList();

            await Task.Delay(1500);
            var clock = Stopwatch.StartNew();
            var exitCode = await server.TerminateAsync(TimeSpan.FromSeconds(10));
            var shutdown = clock.Elapsed;
            await stop.CancelAsync();
            await Task.WhenAll(publishers);

            Assert.Equal(0, exitCode);
            Assert.True(shutdown < TimeSpan.FromSeconds(5), $"shutdown took {shutdown.TotalSeconds:0.0} s");
        }

        Assert.True(acknowledged.Count > 100, $"only {acknowledged.Count} publishes were acknowledged");
        // Every acknowledged message is stored under its id with exactly the text that was sent.
        var exact = await postgres.Server.QueryScalarAsync<long>(database,
            $"SELECT count(*) FROM messages WHERE (id, text) IN ({string.Join(",", acknowledged.Select(a => $"({a.Key}, '{a.Value}')"))})");
        Assert.Equal(acknowledged.Count, exact);
    }
}
