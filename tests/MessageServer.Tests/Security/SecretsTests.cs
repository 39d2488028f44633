using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

public sealed class SecretsTests(PostgresFixture postgres)
{
    [Fact]
    public async Task At_debug_log_level_the_password_appears_in_no_output_endpoint_or_problem()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        settings["Logging__LogLevel__Default"] = "Debug";
        settings["Logging__LogLevel__Microsoft"] = "Debug";
        var bodies = new List<string>();
        string output;
        await using (var server = await ServerProcess.StartAsync(settings))
        {
            var topic = UniqueTopic();
            await server.Client.PublishAsync(topic, "hello");
            foreach (var path in new[] { "/health", "/ready", "/metrics", $"/api/topics/{topic}/messages", "/api/messages/abc", "/api/topics/a.b/messages", "/nope", "/openapi/v1.json" })
            {
                bodies.Add(await (await server.Client.GetAsync(path)).Content.ReadAsStringAsync());
            }
            bodies.Add(await (await server.Client.PostJsonAsync(topic, "{broken")).Content.ReadAsStringAsync());
            Assert.Equal(0, await server.TerminateAsync(TimeSpan.FromSeconds(10)));
            output = server.Output;
        }

        Assert.Contains("dbug:", output, StringComparison.Ordinal);
        Assert.DoesNotContain(PostgresServer.Password, output, StringComparison.Ordinal);
        Assert.All(bodies, body => Assert.DoesNotContain(PostgresServer.Password, body, StringComparison.Ordinal));
    }
}
