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
        await LeaveSocketFileAsync(socketPath);
        Assert.True(Path.Exists(socketPath));

        await using var server = await ServerProcess.StartAsync(Settings(directory, socketPath));

        using var health = await server.Client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Contains($"listening on socket {socketPath}", server.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SOCKET_PATH_naming_a_file_that_is_not_a_socket_stops_startup_and_leaves_the_file_alone()
    {
        using var directory = new TemporaryDirectory("ms-sock-");
        var precious = Path.Combine(directory.FullName, "precious.txt");
        await File.WriteAllTextAsync(precious, "data");

        var result = await ServerProcess.RunToExitAsync(Settings(directory, precious));

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"message-server: configuration error: SOCKET_PATH {precious} is an existing file, not a socket; remove it yourself or give another path.", line);
        Assert.Equal("data", await File.ReadAllTextAsync(precious));
    }

    [Fact]
    public async Task SOCKET_PATH_naming_a_directory_stops_startup_with_one_line()
    {
        using var directory = new TemporaryDirectory("ms-sock-");

        var result = await ServerProcess.RunToExitAsync(Settings(directory, directory.FullName));

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains($"SOCKET_PATH {directory.FullName} is a directory", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_second_server_on_the_same_SOCKET_PATH_stops_instead_of_taking_the_socket_of_the_first()
    {
        using var directory = new TemporaryDirectory("ms-sock-");
        var socketPath = Path.Combine(directory.FullName, "app.sock");
        await using var first = await ServerProcess.StartAsync(Settings(directory, socketPath));
        var secondSettings = Settings(directory, socketPath);
        secondSettings["SQLITE_PATH"] = Path.Combine(directory.FullName, "second.db");

        var second = await ServerProcess.RunToExitAsync(secondSettings);

        Assert.Equal(2, second.ExitCode);
        Assert.Contains($"SOCKET_PATH {socketPath} is in use", second.Output, StringComparison.Ordinal);
        using var health = await first.Client.GetAsync(new Uri("/health", UriKind.Relative));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    /// <summary>
    /// What a killed server leaves: a socket file that nothing listens on. Made by another process, because .NET
    /// removes the file of a socket it bound when that socket is closed, and a killed process closes nothing.
    /// </summary>
    private static async Task LeaveSocketFileAsync(string path)
    {
        var made = await ProcessRunner.RunAsync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path]);
        Assert.Equal(0, made.ExitCode);
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
