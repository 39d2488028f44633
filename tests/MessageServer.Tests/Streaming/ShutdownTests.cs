using System.Diagnostics;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Streaming;

public sealed class ShutdownTests
{
    [Fact]
    public async Task SIGTERM_closes_open_streams_promptly_and_the_process_exits_0()
    {
        using var directory = new TemporaryDirectory("ms-shutdown-");
        await using var server = await ServerProcess.StartAsync(MessageServerHost.SqliteSettings(directory.FullName));
        var topic = UniqueTopic();
        await using var stream = await SseClient.ConnectAsync(server.BaseAddress, $"/api/topics/{topic}/stream");
        await using var secondStream = await SseClient.ConnectAsync(server.BaseAddress, $"/api/topics/{UniqueTopic()}/stream");

        var clock = Stopwatch.StartNew();
        var exitCode = await server.TerminateAsync(TimeSpan.FromSeconds(10));
        await Task.WhenAll(stream.Closed, secondStream.Closed).WaitAsync(TimeSpan.FromSeconds(5));

        Assert.Equal(0, exitCode);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"Shutdown took {clock.Elapsed.TotalSeconds:0.0} s");
        Assert.Contains("server shutting down, reconnect", stream.Comments);
    }
}
