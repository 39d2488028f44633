using System.Diagnostics;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Operations;

public sealed class GracefulShutdownTests(PostgresFixture postgres)
{
    [Fact]
    public async Task SIGTERM_under_publishing_load_exits_0_within_5_s_and_loses_no_acknowledged_message()
    {
        var database = await postgres.Server.CreateDatabaseAsync();
        await using var server = await ServerProcess.StartAsync(postgres.Server.SettingsFor(database));
        using var load = PublishingLoad.Start(server.BaseAddress, UniqueTopic("sigterm"), workers: 16);

        await Task.Delay(1500);
        var clock = Stopwatch.StartNew();
        var exitCode = await server.TerminateAsync(TimeSpan.FromSeconds(10));
        var shutdown = clock.Elapsed;
        await load.StopAsync();

        Assert.Equal(0, exitCode);
        Assert.True(shutdown < TimeSpan.FromSeconds(5), $"shutdown took {shutdown.TotalSeconds:0.0} s");
        Assert.True(load.Acknowledged.Count > 100, $"only {load.Acknowledged.Count} publishes were acknowledged");
        Assert.Equal(load.Acknowledged.Count, await postgres.Server.CountStoredExactlyAsync(database, load.Acknowledged));
    }
}
