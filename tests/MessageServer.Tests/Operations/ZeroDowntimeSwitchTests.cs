using System.Globalization;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Operations;

/// <summary>The mechanism the deploy switches versions with: two processes sharing PORT through SO_REUSEPORT.</summary>
public sealed class ZeroDowntimeSwitchTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Two_versions_share_the_port_and_stopping_the_old_one_under_load_fails_no_request()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        var port = PostgresServer.FreePort();
        settings["REUSE_PORT"] = "true";
        var oldInstancePort = PostgresServer.FreePort();
        var newInstancePort = PostgresServer.FreePort();
        await using var oldVersion = await ServerProcess.StartAsync(WithVersion(settings, "old", oldInstancePort), port);
        await using var newVersion = await ServerProcess.StartAsync(WithVersion(settings, "new", newInstancePort), port);

        // Each version answers alone on its instance port: that is how a deploy health-gates the new one.
        Assert.Equal("old", await VersionAtAsync(oldInstancePort));
        Assert.Equal("new", await VersionAtAsync(newInstancePort));

        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var versionsSeen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        var requests = 0;
        using var stop = new CancellationTokenSource();
        var load = Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var health = await client.GetFromJsonAsync<Dictionary<string, string>>("/health");
                    versionsSeen.AddOrUpdate(health!["version"], 1, (_, n) => n + 1);
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
                {
                    failures.Add(exception.Message);
                }
                Interlocked.Increment(ref requests);
            }
        })));

        await Task.Delay(1000);
        Assert.Equal(0, await oldVersion.TerminateAsync(TimeSpan.FromSeconds(10)));
        await Task.Delay(1000);
        await stop.CancelAsync();
        await load;

        Assert.Empty(failures);
        Assert.True(requests > 500, $"only {requests} requests were sent");
        Assert.True(versionsSeen.ContainsKey("old") && versionsSeen.ContainsKey("new"), string.Join(", ", versionsSeen));
        Assert.Equal("new", (await client.GetFromJsonAsync<Dictionary<string, string>>("/health"))!["version"]);
    }

    private static Dictionary<string, string?> WithVersion(Dictionary<string, string?> settings, string version, int instancePort) =>
        new(settings) { ["APP_VERSION"] = version, ["INSTANCE_PORT"] = instancePort.ToString(CultureInfo.InvariantCulture) };

    private static async Task<string> VersionAtAsync(int port)
    {
        using var client = new HttpClient();
        var health = await client.GetFromJsonAsync<Dictionary<string, string>>($"http://127.0.0.1:{port}/health");
        return health!["version"];
    }
}
