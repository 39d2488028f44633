using System.Diagnostics;

namespace MessageServer.Tests.Infrastructure;

/// <summary>The server as its own OS process (dotnet MessageServer.dll), for what only a real process shows: exit codes, stderr.</summary>
public static class ServerProcess
{
    public static string AssemblyPath => Path.Combine(AppContext.BaseDirectory, "MessageServer.dll");

    /// <summary>A clean environment: the test machine's own POSTGRES_* or PORT must not leak into the server under test.</summary>
    public static Dictionary<string, string?> Environment(IDictionary<string, string?> settings)
    {
        var environment = new Dictionary<string, string?>();
        foreach (var name in new[] { "PORT", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_SSLMODE", "POSTGRES_SSLROOTCERT", "SQLITE_PATH", "APP_VERSION", "AUTH_DEFAULT_ACCESS", "LOG_FORMAT", "METRICS", "METRICS_PORT", "H2C_PORT", "TRUSTED_PROXIES", "CORS_ORIGINS", "SOCKET_PATH" })
        {
            environment[name] = null;
        }
        environment["RATE_LIMIT"] = "off";
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }
        return environment;
    }

    public static Task<ProcessResult> RunToExitAsync(IDictionary<string, string?> settings) =>
        ProcessRunner.RunAsync("dotnet", [AssemblyPath], Environment(settings), TimeSpan.FromSeconds(30));

    /// <summary>Starts the server process on a free port (or on SOCKET_PATH when given) and waits for /ready.</summary>
    /// <param name="workingDirectory">Where the process starts; by default the app's folder, as the container's WORKDIR.</param>
    public static async Task<RunningServer> StartAsync(
        IDictionary<string, string?> settings, int? port = null, bool waitUntilReady = true, string? workingDirectory = null)
    {
        port ??= PostgresServer.FreePort();
        var environment = Environment(settings);
        environment["PORT"] = port.Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var process = ProcessRunner.Start("dotnet", [AssemblyPath], environment, workingDirectory ?? AppContext.BaseDirectory);
        var server = settings.TryGetValue("SOCKET_PATH", out var socketPath) && socketPath is not null
            ? new RunningServer(process, new Uri("http://localhost"), MessageServer.Operations.UnixSocketListener.ClientHandler(socketPath))
            : new RunningServer(process, new Uri($"http://127.0.0.1:{port}"));
        if (waitUntilReady)
        {
            await server.WaitUntilReadyAsync();
        }
        return server;
    }
}

/// <summary>A server process under test; killed on dispose if it is still running.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private readonly Process process;
    private readonly System.Text.StringBuilder output = new();

    public RunningServer(Process process, Uri baseAddress, HttpMessageHandler? handler = null)
    {
        this.process = process;
        BaseAddress = baseAddress;
        Client = new HttpClient(handler ?? new SocketsHttpHandler()) { BaseAddress = baseAddress };
        process.OutputDataReceived += (_, line) => { lock (output) { output.AppendLine(line.Data); } };
        process.ErrorDataReceived += (_, line) => { lock (output) { output.AppendLine(line.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public string Output
    {
        get { lock (output) { return output.ToString(); } }
    }

    public async Task WaitUntilReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            Assert.False(process.HasExited, $"The server exited early:\n{Output}");
            try
            {
                using var response = await Client.GetAsync(new Uri("/ready", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            Assert.True(DateTime.UtcNow < deadline, $"The server did not become ready:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: the process dies at once, as in a crash or an OOM kill.</summary>
    public async Task KillAsync()
    {
        process.Kill();
        await process.WaitForExitAsync();
    }

    /// <summary>Waits until the output holds <paramref name="text"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, $"The output never held '{text}':\n{Output}");
            await Task.Delay(100);
        }
    }

    /// <summary>Sends SIGTERM, as docker stop and systemd do, and waits for the exit code.</summary>
    public async Task<int> TerminateAsync(TimeSpan timeout)
    {
        var signal = await ProcessRunner.RunAsync("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.Equal(0, signal.ExitCode);
        using var cancel = new CancellationTokenSource(timeout);
        await process.WaitForExitAsync(cancel.Token);
        return process.ExitCode;
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }
}
