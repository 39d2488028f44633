using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>
/// kill -9 in the middle of delivering, with real server processes: after a restart every message reaches the
/// receiver, in order (at least once: the one in flight at the kill may come twice, with the same webhook-id).
/// </summary>
public sealed class WebhookCrashTests(PostgresFixture postgres)
{
    private const int Messages = 300;

    [Fact]
    public async Task After_kill_9_mid_delivery_on_SQLite_a_restart_delivers_everything_in_order()
    {
        using var directory = new TemporaryDirectory("ms-webhook-crash-");
        await KillAndRestartAsync(WebhookTestSettings.With(MessageServerHost.SqliteSettings(directory.FullName)));
    }

    [Fact]
    public async Task After_kill_9_mid_delivery_on_PostgreSQL_a_restart_takes_over_the_lease_and_delivers_everything_in_order()
    {
        await KillAndRestartAsync(WebhookTestSettings.With(postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync())));
    }

    private static async Task KillAndRestartAsync(Dictionary<string, string?> settings)
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        receiver.Respond = (_, _) => new Reply(200, Delay: TimeSpan.FromMilliseconds(10));
        var topic = UniqueTopic("crash");
        var published = new List<long>();
        await using (var server = await ServerProcess.StartAsync(settings))
        {
            await server.Client.CreateWebhookAsync(topic, receiver);
            for (var i = 0; i < Messages; i++)
            {
                published.Add((await server.Client.PublishAsync(topic, $"message {i}")).Id);
            }
            await receiver.WaitForDeliveredAsync(60, TimeSpan.FromSeconds(30));
            await server.KillAsync();
        }
        var beforeRestart = receiver.Delivered().Count;
        Assert.InRange(beforeRestart, 60, Messages - 1);

        // On PostgreSQL the killed process's lease has to run out first (at most 20 s).
        await using var restarted = await ServerProcess.StartAsync(settings);
        var delivered = await receiver.WaitForDeliveredAsync(Messages, TimeSpan.FromSeconds(60));

        Assert.Equal(published, delivered.Select(r => r.MessageId));
        Assert.All(receiver.Received, r => Assert.True(r.SignatureValid));
        Assert.InRange(receiver.Received.Count - Messages, 0, 2); // at most the attempt in flight at the kill, again
    }
}
