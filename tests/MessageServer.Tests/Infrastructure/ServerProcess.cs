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
        foreach (var name in new[] { "PORT", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_SSLMODE", "POSTGRES_SSLROOTCERT", "SQLITE_PATH", "APP_VERSION" })
        {
            environment[name] = null;
        }
        foreach (var (name, value) in settings)
        {
            environment[name] = value;
        }
        return environment;
    }

    public static Task<ProcessResult> RunToExitAsync(IDictionary<string, string?> settings) =>
        ProcessRunner.RunAsync("dotnet", [AssemblyPath], Environment(settings), TimeSpan.FromSeconds(30));
}
