using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Configuration;

/// <summary>A wrong setting stops the real process at once with one line that names the variable.</summary>
public sealed class StartupErrorTests
{
    [Fact]
    public async Task PORT_abc_stops_startup_with_one_line_naming_PORT()
    {
        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?> { ["PORT"] = "abc" });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("message-server: configuration error: PORT must be a port number from 0 to 65535, got 'abc'.", line);
    }

    [Fact]
    public async Task A_PORT_in_use_stops_startup_with_one_line_naming_PORT()
    {
        using var occupant = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        occupant.Start();
        var port = ((System.Net.IPEndPoint)occupant.LocalEndpoint).Port;

        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?> { ["PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"message-server: configuration error: PORT {port} is in use by another process; stop that one or set PORT to a free port.", line);
    }

    [Fact]
    public async Task METRICS_PORT_equal_to_PORT_is_a_configuration_error()
    {
        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?> { ["PORT"] = "5797", ["METRICS_PORT"] = "5797" });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("message-server: configuration error: METRICS_PORT must differ from PORT (5797)", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task H2C_PORT_equal_to_PORT_is_a_configuration_error()
    {
        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?> { ["PORT"] = "5797", ["H2C_PORT"] = "5797" });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("message-server: configuration error: H2C_PORT must differ from PORT and METRICS_PORT: it is a second port that speaks HTTP/2 without TLS, got 5797.", line);
    }

    [Fact]
    public async Task An_H2C_PORT_in_use_stops_startup_with_one_line_naming_H2C_PORT()
    {
        using var occupant = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Any, 0);
        occupant.Start();
        var port = ((System.Net.IPEndPoint)occupant.LocalEndpoint).Port;

        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?> { ["H2C_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture) });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal($"message-server: configuration error: H2C_PORT {port} is in use by another process; stop that one or set H2C_PORT to a free port.", line);
    }

    [Fact]
    public async Task POSTGRES_HOST_without_POSTGRES_USER_names_the_missing_variable_and_hides_the_password()
    {
        var result = await ServerProcess.RunToExitAsync(new Dictionary<string, string?>
        {
            ["POSTGRES_HOST"] = "db.internal",
            ["POSTGRES_PASSWORD"] = "s3cret-never-printed",
        });

        Assert.Equal(2, result.ExitCode);
        var line = Assert.Single(result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("POSTGRES_USER is required", line, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret-never-printed", result.Output, StringComparison.Ordinal);
    }
}
