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
    public async Task SIGTERM_is_not_held_up_by_an_h2c_stream_whose_client_stopped_reading()
    {
        using var directory = new TemporaryDirectory("ms-h2c-");
        var (server, h2c) = await StartWithH2cAsync(directory);
        await using var _ = server;
        using (h2c)
        {
            var topic = UniqueTopic();
            await using var healthy = await SseClient.ConnectAsync(h2c.BaseAddress!, $"/api/topics/{topic}/stream", through: h2c);
            // A stream on the same connection whose body is never read: once its HTTP/2 flow-control window is full,
            // nothing more can be written to it (the connection itself stays healthy).
            using var stalledRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/topics/{topic}/stream");
            using var stalled = await h2c.SendAsync(stalledRequest, HttpCompletionOption.ResponseHeadersRead);
            var text = new string('x', 3900);
            for (var i = 0; i < 40; i++)
            {
                await server.Client.PublishAsync(topic, text);
            }
            await healthy.ReadMessagesAsync(40);

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var exitCode = await server.TerminateAsync(TimeSpan.FromSeconds(10));

            Assert.Equal(0, exitCode);
            // The host's shutdown timeout is 5 s: well under it.
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3.5), $"Shutdown took {clock.Elapsed.TotalSeconds:0.0} s");
            await healthy.Closed.WaitAsync(TimeSpan.FromSeconds(5));
            Assert.Contains("server shutting down, reconnect", healthy.Comments);
        }
    }

    private static async Task<(RunningServer Server, HttpClient H2c)> StartWithH2cAsync(TemporaryDirectory directory)
    {
        var h2cPort = PostgresServer.FreePort();
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        settings["H2C_PORT"] = h2cPort.ToString(CultureInfo.InvariantCulture);
        var server = await ServerProcess.StartAsync(settings);
        var h2c = new HttpClient(new SocketsHttpHandler { EnableMultipleHttp2Connections = true })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{h2cPort}"),
            DefaultRequestVersion = HttpVersion.Version20,
            DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        return (server, h2c);
    }

    [Fact]
    public async Task Streams_sharing_h2c_connections_each_get_every_message_once_in_order_while_others_leave()
    {
        using var directory = new TemporaryDirectory("ms-h2c-");
        var (server, h2c) = await StartWithH2cAsync(directory);
        await using var _ = server;
        using var __ = h2c;
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
