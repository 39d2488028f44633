using System.Net.Http.Json;
using System.Text.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Operations;

/// <summary>The real process with LOG_FORMAT=json, as CloudWatch would read it.</summary>
public sealed class LoggingTests(PostgresFixture postgres)
{
    [Fact]
    public async Task JSON_logs_are_one_object_per_line_with_the_request_id_the_response_returned_from_traceparent()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        settings["LOG_FORMAT"] = "json";
        var traceId = Guid.NewGuid().ToString("N");
        var topic = UniqueTopic("logs");
        string output;
        await using (var server = await ServerProcess.StartAsync(settings))
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages")
            {
                Content = JsonContent.Create(new { text = "logged" }),
            };
            request.Headers.Add("traceparent", $"00-{traceId}-0123456789abcdef-01");
            using var response = await server.Client.SendAsync(request);
            Assert.Equal(traceId, Assert.Single(response.Headers.GetValues("X-Request-Id")));
            Assert.Equal(0, await server.TerminateAsync(TimeSpan.FromSeconds(10)));
            output = server.Output;
        }

        var lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var entries = lines.Select(line => JsonDocument.Parse(line).RootElement).ToList();
        var requestLine = Assert.Single(entries, e => e.GetProperty("State").TryGetProperty("RequestId", out var id) && id.GetString() == traceId);
        var state = requestLine.GetProperty("State");
        Assert.Equal("POST", state.GetProperty("Method").GetString());
        Assert.Equal("/api/topics/{topic}/messages", state.GetProperty("Route").GetString());
        Assert.Equal(201, state.GetProperty("StatusCode").GetInt32());
        Assert.True(state.TryGetProperty("DurationMs", out _));
        var startup = Assert.Single(entries, e => e.GetProperty("Category").GetString() == "MessageServer.Operations.StartupLog").GetProperty("State");
        Assert.Contains("postgres 127.0.0.1", startup.GetProperty("Storage").GetString(), StringComparison.Ordinal);
        Assert.True(startup.TryGetProperty("Version", out _) && startup.TryGetProperty("Endpoint", out _) && startup.TryGetProperty("AuthMode", out _));
        Assert.DoesNotContain(PostgresServer.Password, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_response_carries_an_X_Request_Id_and_a_process_exports_only_the_chosen_meters()
    {
        using var directory = new TemporaryDirectory("ms-metrics-");
        await using var server = await ServerProcess.StartAsync(MessageServerHost.SqliteSettings(directory.FullName));

        using var missing = await server.Client.GetAsync("/no/such/page");
        var samples = await PrometheusText.ScrapeAsync(server.Client);

        Assert.Matches("^[0-9a-f]{32}$", Assert.Single(missing.Headers.GetValues("X-Request-Id")));
        Assert.Contains(samples, s => s.Name.StartsWith("system_runtime_dotnet_gc", StringComparison.Ordinal));
        Assert.DoesNotContain(samples, s => s.Name.StartsWith("private_", StringComparison.Ordinal));
    }
}
