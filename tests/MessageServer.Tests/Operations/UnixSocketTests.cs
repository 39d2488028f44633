using System.Net;
using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Operations;

/// <summary>How the deploy runs the server: on SOCKET_PATH behind its front proxy, which forwards the client's address.</summary>
public sealed class UnixSocketTests
{
    [Fact]
    public async Task The_server_answers_on_SOCKET_PATH_even_where_a_crashed_run_left_its_socket_file()
    {
        using var directory = new TemporaryDirectory("ms-sock-");
        var socketPath = Path.Combine(directory.FullName, "app.sock");
        await File.WriteAllTextAsync(socketPath, "");

        await using var server = await ServerProcess.StartAsync(Settings(directory, socketPath));

        using var health = await server.Client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains($"listening on socket {socketPath}", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_healthcheck_command_asks_over_SOCKET_PATH()
    {
        using var directory = new TemporaryDirectory("ms-sock-");
        var settings = Settings(directory, Path.Combine(directory.FullName, "app.sock"));
        await using var server = await ServerProcess.StartAsync(settings);

        var probe = await ProcessRunner.RunAsync("dotnet", [ServerProcess.AssemblyPath, "healthcheck"], ServerProcess.Environment(settings));

        Assert.Equal(0, probe.ExitCode);
        Assert.StartsWith("healthcheck: 200", probe.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Over_SOCKET_PATH_with_TRUSTED_PROXIES_each_forwarded_client_has_its_own_publish_budget()
    {
        using var directory = new TemporaryDirectory("ms-sock-");
        var settings = Settings(directory, Path.Combine(directory.FullName, "app.sock"));
        settings["TRUSTED_PROXIES"] = "127.0.0.1";
        settings["RATE_LIMIT"] = "on";
        settings["RATE_LIMIT_PUBLISH_BURST"] = "2";
        settings["RATE_LIMIT_PUBLISHES_PER_SECOND"] = "1";
        await using var server = await ServerProcess.StartAsync(settings);

        // The socket has no peer address: the proxy that opened it names the client.
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 6; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/topics/forwarded/messages")
            {
                Content = new StringContent("via the proxy", System.Text.Encoding.UTF8, "text/plain"),
            };
            request.Headers.Add("X-Forwarded-For", $"203.0.113.{i}");
            request.Headers.Add("X-Forwarded-Proto", "https");
            using var response = await server.Client.SendAsync(request);
            statuses.Add(response.StatusCode);
        }

        Assert.All(statuses, status => Assert.Equal(HttpStatusCode.Created, status));
    }

    private static Dictionary<string, string?> Settings(TemporaryDirectory directory, string socketPath) => new()
    {
        ["SOCKET_PATH"] = socketPath,
        ["SQLITE_PATH"] = Path.Combine(directory.FullName, "messages.db"),
    };
}
