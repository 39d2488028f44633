using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MessageServer.Streaming;
using MessageServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Streaming;

/// <summary>Two server instances sharing one PostgreSQL database, as behind a load balancer.</summary>
public sealed class MultiInstanceStreamingTests(PostgresFixture postgres) : IAsyncLifetime
{
    private string database = "";
    private MessageServerHost first = null!;
    private MessageServerHost second = null!;

    public async ValueTask InitializeAsync()
    {
        database = await postgres.Server.CreateDatabaseAsync();
        first = await MessageServerHost.StartAsync(postgres.Server.SettingsFor(database));
        second = await MessageServerHost.StartAsync(postgres.Server.SettingsFor(database));
    }

    public async ValueTask DisposeAsync()
    {
        await first.DisposeAsync();
        await second.DisposeAsync();
    }

    private static Task<SseClient> ConnectAsync(MessageServerHost host, string topic, string query = "") =>
        SseClient.ConnectAsync(host.BaseAddress, $"/api/topics/{topic}/stream{query}");

    [Fact]
    public async Task A_message_published_on_one_instance_reaches_subscribers_of_the_other()
    {
        var topic = UniqueTopic();
        await using var subscriber = await ConnectAsync(second, topic);

        var published = await first.Client.PublishAsync(topic, "across instances");

        Assert.Equal(published, Assert.Single(await subscriber.ReadMessagesAsync(1)));
    }

    [Fact]
    public async Task An_instance_serving_a_topic_from_memory_soon_shows_messages_and_deletes_made_on_the_other()
    {
        var topic = UniqueTopic();
        var one = await first.Client.PublishAsync(topic, "one");
        Assert.Single(await second.Client.ListAsync(topic)); // the second instance now holds the topic in memory

        var two = await first.Client.PublishAsync(topic, "two");
        using (await first.Client.DeleteAsync($"/api/messages/{one.Id}"))
        {
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        List<long> seen;
        do
        {
            await Task.Delay(50);
            seen = (await second.Client.ListAsync(topic)).Select(m => m.Id).ToList();
        }
        while (!seen.SequenceEqual([two.Id]) && DateTime.UtcNow < deadline);
        Assert.Equal([two.Id], seen);
    }

    [Fact]
    public async Task A_delete_on_one_instance_reaches_subscribers_of_the_other()
    {
        var topic = UniqueTopic();
        var message = await first.Client.PublishAsync(topic, "to delete");
        await using var subscriber = await ConnectAsync(second, topic);

        using var deleted = await first.Client.DeleteAsync($"/api/messages/{message.Id}");

        Assert.Equal("deleted", (await subscriber.NextAsync()).Event);
    }

    [Fact]
    public async Task Concurrent_publishers_on_both_instances_are_seen_by_every_subscriber_exactly_once_in_ascending_order()
    {
        var topic = UniqueTopic();
        var otherTopic = UniqueTopic();
        var subscribers = new List<SseClient>();
        foreach (var host in new[] { first, second, first, second })
        {
            subscribers.Add(await ConnectAsync(host, topic));
        }
        try
        {
            // Eight publishers, half on each instance, interleaved with traffic on another topic so that
            // batches span topics and ids from the shared sequence interleave across instances.
            var published = await Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
            {
                var client = (worker % 2 == 0 ? first : second).Client;
                var ids = new List<long>();
                for (var i = 0; i < 40; i++)
                {
                    ids.Add((await client.PublishAsync(topic, $"w{worker} m{i}")).Id);
                    if (i % 4 == 0)
                    {
                        await client.PublishAsync(otherTopic, "noise");
                    }
                }
                return ids;
            }));
            var expected = published.SelectMany(ids => ids).Order().ToList();

            foreach (var subscriber in subscribers)
            {
                var received = await subscriber.ReadMessagesAsync(expected.Count, TimeSpan.FromSeconds(30));
                Assert.Equal(expected, received.Select(m => m.Id));
                Assert.True(await subscriber.StaysQuietAsync(TimeSpan.FromMilliseconds(200)));
            }
        }
        finally
        {
            foreach (var subscriber in subscribers)
            {
                await subscriber.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task After_the_listening_connection_is_killed_the_feed_reconnects_and_replays_what_it_missed()
    {
        var topic = UniqueTopic();
        await using var subscriber = await ConnectAsync(second, topic);
        var before = await first.Client.PublishAsync(topic, "before the cut");
        Assert.Equal(before.Id, Assert.Single(await subscriber.ReadMessagesAsync(1)).Id);
        Assert.Single(await second.Client.ListAsync(topic)); // the second instance now reads the topic from memory

        var killed = await KillListenersAsync();
        var during = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            during.Add((await first.Client.PublishAsync(topic, $"during the cut {i}")).Id);
        }

        Assert.Equal(2, killed);
        Assert.Equal(during, (await subscriber.ReadMessagesAsync(20, TimeSpan.FromSeconds(20))).Select(m => m.Id));
        Assert.True(await subscriber.StaysQuietAsync(TimeSpan.FromMilliseconds(300)));
        Assert.Equal(during.Prepend(before.Id), (await second.Client.ListAsync(topic)).Select(m => m.Id));
    }

    [Fact]
    public async Task After_the_listening_connection_is_killed_latest_pages_show_what_was_published_and_deleted_meanwhile()
    {
        var topic = UniqueTopic();
        var kept = await first.Client.PublishAsync(topic, "kept");
        var deleted = await first.Client.PublishAsync(topic, "deleted during the cut");
        Assert.Equal([kept.Id, deleted.Id], (await second.Client.ListAsync(topic)).Select(m => m.Id)); // now in memory there

        // No one subscribes to the topic, so no catch-up of subscribers covers it.
        await KillListenersAsync();
        var added = await first.Client.PublishAsync(topic, "published during the cut");
        using var delete = await first.Client.DeleteAsync($"/api/messages/{deleted.Id}");
        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);

        var expected = new[] { kept.Id, added.Id };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        List<long> latest;
        while (!(latest = (await second.Client.ListAsync(topic)).Select(m => m.Id).ToList()).SequenceEqual(expected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        Assert.Equal(expected, latest);
    }

    [Fact]
    public async Task A_subscriber_that_stops_reading_is_cut_off_without_slowing_publishers_or_other_subscribers()
    {
        var settings = postgres.Server.SettingsFor(database);
        settings["STREAM_SUBSCRIBER_BUFFER"] = "200";
        await using var server = await MessageServerHost.StartAsync(settings);
        var hub = server.Services.GetRequiredService<MessageHub>();
        var topic = UniqueTopic();
        await using var healthy = await ConnectAsync(server, topic);
        using var stalled = await OpenStalledStreamAsync(server.BaseAddress, topic);
        await WaitUntilAsync(() => hub.SubscriberCount == 2);

        // 8 MB of events: far more than the stalled client's socket buffers and its 200-event queue hold; the healthy client, reading as it should, never falls that far behind.
        var text = new string('x', 4000);
        var published = await Task.WhenAll(Enumerable.Range(0, 16).Select(async _ =>
        {
            var ids = new List<long>();
            for (var i = 0; i < 125; i++)
            {
                ids.Add((await server.Client.PublishAsync(topic, text)).Id);
            }
            return ids;
        }));

        var expected = published.SelectMany(ids => ids).Order().ToList();
        Assert.Equal(expected, (await healthy.ReadMessagesAsync(expected.Count, TimeSpan.FromSeconds(60))).Select(m => m.Id));
        await WaitUntilAsync(() => hub.SubscriberCount == 1, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_delete_made_while_the_listener_is_cut_off_still_reaches_subscribers_of_the_other_instance()
    {
        var topic = UniqueTopic();
        var message = await first.Client.PublishAsync(topic, "deleted during the cut");
        await using var subscriber = await ConnectAsync(second, topic, $"?after={message.Id - 1}");
        Assert.Equal(message.Id, Assert.Single(await subscriber.ReadMessagesAsync(1)).Id);

        await KillListenersAsync();
        using var delete = await first.Client.DeleteAsync($"/api/messages/{message.Id}");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        var deleted = await subscriber.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(("deleted", $"{{\"id\":{message.Id}}}"), (deleted.Event, deleted.Data));
    }

    [Fact]
    public async Task A_retention_delete_made_while_the_listener_is_cut_off_still_reaches_subscribers_of_the_other_instance()
    {
        var settings = postgres.Server.SettingsFor(database);
        settings["RETENTION_MAX_PER_TOPIC"] = "1";
        settings["RETENTION_INTERVAL_SECONDS"] = "3600";
        await using var retaining = await MessageServerHost.StartAsync(settings);
        var topic = UniqueTopic();
        var removed = await first.Client.PublishAsync(topic, "removed by retention during the cut");
        await first.Client.PublishAsync(topic, "kept");
        await using var subscriber = await ConnectAsync(second, topic);

        await KillListenersAsync();
        await retaining.Services.GetRequiredService<MessageServer.Operations.RetentionJob>().RunOnceAsync(CancellationToken.None);

        var deleted = await subscriber.NextAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(("deleted", $"{{\"id\":{removed.Id}}}"), (deleted.Event, deleted.Data));
    }

    /// <summary>Ends the LISTEN connection of every instance on the test's database, as a network cut or a database failover would.</summary>
    private Task<long> KillListenersAsync() => postgres.Server.QueryScalarAsync<long>(database,
        $"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{MessageServer.ChangeFeed.PostgresChangeFeed.ListenerApplicationName}' AND datname = current_database()");

    /// <summary>Opens a stream on a raw socket with a tiny receive buffer and never reads from it.</summary>
    private static async Task<Socket> OpenStalledStreamAsync(Uri baseAddress, string topic)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await socket.ConnectAsync(IPAddress.Loopback, baseAddress.Port);
        var request = $"GET /api/topics/{topic}/stream HTTP/1.1\r\nHost: 127.0.0.1:{baseAddress.Port}\r\nAccept: text/event-stream\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(request));
        return socket;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not come true in time.");
            await Task.Delay(50);
        }
    }
}
