using System.Globalization;
using System.Net;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Streaming;

/// <summary>
/// H2C_PORT: a front proxy speaking HTTP/2 without TLS multiplexes many streams on one connection to the app, where
/// each stream's events are written by the deliveries themselves. The guarantees must hold per stream all the same.
/// </summary>
public sealed class Http2StreamingTests
{
    [Fact]
    public async Task Streams_sharing_h2c_connections_each_get_every_message_once_in_order_while_others_leave()
    {
        using var directory = new TemporaryDirectory("ms-h2c-");
        var h2cPort = PostgresServer.FreePort();
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        settings["H2C_PORT"] = h2cPort.ToString(CultureInfo.InvariantCulture);
        await using var server = await ServerProcess.StartAsync(settings);
        using var h2c = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{h2cPort}"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        var topic = UniqueTopic();
        // More streams than Kestrel allows on one connection (100), so several connections carry them.
        var staying = new List<SseClient>();
        var leaving = new List<SseClient>();
        for (var i = 0; i < 240; i++)
        {
            var stream = await SseClient.ConnectAsync(h2c.BaseAddress!, $"/api/topics/{topic}/stream", through: h2c);
            Assert.Equal(HttpVersion.Version20, stream.Response.Version);
            (i % 3 == 0 ? leaving : staying).Add(stream);
        }

        const int Messages = 40;
        var published = new List<long>();
        for (var m = 0; m < Messages; m++)
        {
            published.Add((await server.Client.PublishAsync(topic, $"message {m}")).Id);
            if (m % 5 == 4)
            {
                // Streams reset in the middle of deliveries, on the connections the others share.
                await Task.WhenAll(leaving.Take(16).Select(s => s.DisposeAsync().AsTask()));
                leaving.RemoveRange(0, Math.Min(16, leaving.Count));
            }
        }

        foreach (var stream in staying)
        {
            var received = await stream.ReadMessagesAsync(Messages);
            Assert.Equal(published, received.Select(m => m.Id));
        }
        Assert.All(staying, stream => Assert.False(stream.Closed.IsCompleted));
        await Task.WhenAll(staying.Concat(leaving).Select(s => s.DisposeAsync().AsTask()));
    }
}
