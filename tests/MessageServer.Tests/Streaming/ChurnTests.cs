using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Streaming;

/// <summary>
/// The headline promise under the traffic a live page gets: while publishers post, stream connections open and
/// vanish abruptly (TCP reset at a random moment, like a closed tab, a phone changing networks or a proxy
/// restarting). Every publish must be a 201 and every long-lived subscriber must see every acknowledged message
/// exactly once, in ascending order.
/// </summary>
public sealed class ChurnTests(PostgresFixture postgres)
{
    private static readonly TimeSpan ChurnDuration = TimeSpan.FromSeconds(6);
    private const int PublishersPerInstance = 8;
    private const int ChurnersPerInstance = 8;
    private const int LongLivedSubscribers = 3;

    [Fact]
    public async Task Subscribers_vanishing_mid_delivery_on_SQLite_cost_no_publish_and_no_message()
    {
        using var directory = new TemporaryDirectory("ms-churn-");
        await using var server = await MessageServerHost.StartAsync(MessageServerHost.SqliteSettings(directory.FullName));

        await AssertChurnCostsNothingAsync([server], PublishersPerInstance);
    }

    [Fact]
    public async Task Subscribers_vanishing_mid_delivery_on_two_PostgreSQL_instances_cost_no_publish_and_no_message()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        await using var first = await MessageServerHost.StartAsync(postgres.Server.SettingsFor(database));
        await using var second = await MessageServerHost.StartAsync(postgres.Server.SettingsFor(database));

        await AssertChurnCostsNothingAsync([first, second], PublishersPerInstance / 2);
    }

    [Fact]
    public async Task A_storm_of_resuming_streams_on_two_instances_cannot_take_the_connections_publishes_need()
    {
        // A database with few connections, as a small RDS instance has: streams replaying from the store must wait
        // their turn rather than take them all.
        await using var database = await PostgresServer.StartAsync(extraOptions: _ => "-c max_connections=40");
        var settings = database.SettingsFor("postgres");
        await using var first = await MessageServerHost.StartAsync(settings);
        await using var second = await MessageServerHost.StartAsync(settings);
        var topic = UniqueTopic("storm");
        var history = new string('h', 2000);
        for (var i = 0; i < 100; i++)
        {
            await first.Client.PublishAsync(topic, history);
        }
        using var load = PublishingLoad.Start(first.BaseAddress, topic, workers: 4);

        // 160 streams at once, each replaying the whole history, then gone.
        var storm = await Task.WhenAll(Enumerable.Range(0, 160).Select(async i =>
        {
            await using var stream = await SseClient.ConnectAsync((i % 2 == 0 ? first : second).BaseAddress, $"/api/topics/{topic}/stream", lastEventId: "0");
            return (await stream.ReadMessagesAsync(100, TimeSpan.FromSeconds(60))).Count;
        }));
        await load.StopAsync();

        Assert.All(storm, replayed => Assert.Equal(100, replayed));
        Assert.Empty(load.Rejected);
        Assert.False(load.Acknowledged.IsEmpty);
    }

    private static async Task AssertChurnCostsNothingAsync(IReadOnlyList<MessageServerHost> instances, int publishersPerInstance)
    {
        var topic = UniqueTopic("churn");
        var longLived = new List<SseClient>();
        for (var i = 0; i < LongLivedSubscribers; i++)
        {
            longLived.Add(await SseClient.ConnectAsync(instances[i % instances.Count].BaseAddress, $"/api/topics/{topic}/stream"));
        }
        try
        {
            using var stopChurn = new CancellationTokenSource();
            var churners = instances.SelectMany(instance => Enumerable.Range(0, ChurnersPerInstance)
                .Select(seed => Task.Run(() => ChurnAsync(instance.BaseAddress, topic, seed, stopChurn.Token)))).ToList();
            var loads = instances.Select(instance => PublishingLoad.Start(instance.BaseAddress, topic, publishersPerInstance)).ToList();

            await Task.Delay(ChurnDuration);
            await Task.WhenAll(loads.Select(load => load.StopAsync()));
            await stopChurn.CancelAsync();
            var churned = (await Task.WhenAll(churners)).Sum();

            Assert.True(churned >= 300, $"Only {churned} subscribers came and went: the test did not churn.");
            Assert.Empty(loads.SelectMany(load => load.Rejected));
            var acknowledged = loads.SelectMany(load => load.Acknowledged.Keys).Order().ToList();
            TestContext.Current.TestOutputHelper?.WriteLine(
                $"{instances.Count} instance(s): {acknowledged.Count} publishes acknowledged, {churned} streams opened and reset, {LongLivedSubscribers} long-lived subscribers");
            Assert.True(acknowledged.Count > 100, $"Only {acknowledged.Count} publishes were acknowledged.");
            foreach (var subscriber in longLived)
            {
                var received = await subscriber.ReadMessagesAsync(acknowledged.Count, TimeSpan.FromSeconds(60));
                Assert.Equal(acknowledged, received.Select(m => m.Id));
                Assert.True(await subscriber.StaysQuietAsync(TimeSpan.FromMilliseconds(300)), "A subscriber got a message twice.");
            }
            loads.ForEach(load => load.Dispose());
        }
        finally
        {
            foreach (var subscriber in longLived)
            {
                await subscriber.DisposeAsync();
            }
        }
    }

    /// <summary>Opens streams one after another, each reset after a random moment; returns how many it opened.</summary>
    private static async Task<int> ChurnAsync(Uri baseAddress, string topic, int seed, CancellationToken stop)
    {
        var random = new Random(seed);
        var request = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture,
            $"GET /api/topics/{topic}/stream HTTP/1.1\r\nHost: 127.0.0.1:{baseAddress.Port}\r\nAccept: text/event-stream\r\n\r\n"));
        var buffer = new byte[4096];
        var opened = 0;
        while (!stop.IsCancellationRequested)
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, baseAddress.Port);
            await socket.SendAsync(request);
            opened++;
            using (var lifetime = new CancellationTokenSource(TimeSpan.FromMilliseconds(random.Next(0, 30))))
            {
                try
                {
                    // Half of them read what arrives, half never read at all.
                    var reads = random.Next(2) == 0;
                    while (reads && await socket.ReceiveAsync(buffer, lifetime.Token) > 0)
                    {
                    }
                    await Task.Delay(Timeout.Infinite, lifetime.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
            // A reset, not a polite close: the server learns of it mid-write or mid-delivery.
            socket.LingerState = new LingerOption(true, 0);
            socket.Close();
        }
        return opened;
    }
}
