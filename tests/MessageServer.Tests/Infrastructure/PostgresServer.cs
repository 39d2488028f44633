using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace MessageServer.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster started from the machine's server binaries (the local stand-in for RDS).
/// As root it runs as the postgres OS user, since initdb and postgres refuse to run as root.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    public const string User = "postgres";
    public const string Password = "test-password-6f1c";

    private readonly string directory;
    private readonly string binDirectory;

    private PostgresServer(string directory, string binDirectory, int port)
    {
        this.directory = directory;
        this.binDirectory = binDirectory;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(directory, "data");

    /// <summary>Extra server options, e.g. "-c ssl=on -c ssl_cert_file=...".</summary>
    public string ExtraOptions { get; init; } = "";

    public string Directory => directory;

    public static async Task<PostgresServer> StartAsync(int? port = null, Func<string, string>? extraOptions = null)
    {
        var binDirectory = FindBinDirectory();
        var directory = System.IO.Directory.CreateTempSubdirectory("ms-pg-").FullName;
        var server = new PostgresServer(directory, binDirectory, port ?? FreePort()) { ExtraOptions = extraOptions?.Invoke(directory) ?? "" };
        try
        {
            await server.InitializeAsync();
            await server.StartAsync();
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Settings the server under test reads, pointing at one database of this cluster.</summary>
    public Dictionary<string, string?> SettingsFor(string database) => new()
    {
        ["POSTGRES_HOST"] = "127.0.0.1",
        ["POSTGRES_PORT"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["POSTGRES_USER"] = User,
        ["POSTGRES_PASSWORD"] = Password,
        ["POSTGRES_DB"] = database,
        ["POSTGRES_SSLMODE"] = "disable",
    };

    public string ConnectionString(string database = "postgres") => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1", Port = Port, Username = User, Password = Password, Database = database, Pooling = false,
    }.ConnectionString;

    /// <summary>Creates an empty database with a unique name, so each test class starts from a clean schema.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "test_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    public async Task<T> QueryScalarAsync<T>(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task StartAsync() =>
        await RunAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(directory, "server.log"), "-w", "-t", "30",
            "-o", $"-p {Port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300 {ExtraOptions}", "start");

    public async Task StopAsync() => await RunAsync("pg_ctl", "-D", DataDirectory, "-m", "fast", "-w", "stop");

    public async ValueTask DisposeAsync()
    {
        if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
        {
            await RunAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
        }
        System.IO.Directory.Delete(directory, recursive: true);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>How many of these messages are stored under exactly that id with exactly that text.</summary>
    public async Task<long> CountStoredExactlyAsync(string database, IReadOnlyDictionary<long, string> messages)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM messages m JOIN unnest($1::bigint[], $2::text[]) AS sent(id, text) ON m.id = sent.id AND m.text = sent.text",
            connection);
        command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. messages.Keys] });
        command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. messages.Values] });
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Runs a statement on one database of the cluster.</summary>
    public async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task InitializeAsync()
    {
        var passwordFile = Path.Combine(directory, "password");
        await File.WriteAllTextAsync(passwordFile, Password);
        if (Environment.UserName == "root")
        {
            // The cluster's files must belong to the user the server runs as.
            await ProcessRunner.RunAsync("chown", ["-R", "postgres:postgres", directory]);
        }
        await RunAsync("initdb", "-D", DataDirectory, "-U", User, "--pwfile", passwordFile,
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync");
    }

    private async Task RunAsync(string tool, params string[] arguments)
    {
        var executable = Path.Combine(binDirectory, tool);
        var result = Environment.UserName == "root"
            ? await ProcessRunner.RunAsync("runuser", ["-u", "postgres", "--", executable, .. arguments])
            : await ProcessRunner.RunAsync(executable, arguments);
        if (result.ExitCode != 0)
        {
            var log = Path.Combine(directory, "server.log");
            var serverLog = File.Exists(log) ? await File.ReadAllTextAsync(log) : "";
            throw new InvalidOperationException($"{tool} failed ({result.ExitCode}): {result.Output}\n{serverLog}");
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("POSTGRES_BIN");
        if (configured is not null && File.Exists(Path.Combine(configured, "initdb")))
        {
            return configured;
        }
        var installed = System.IO.Directory.Exists("/usr/lib/postgresql")
            ? System.IO.Directory.GetDirectories("/usr/lib/postgresql")
                .Select(version => Path.Combine(version, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")))
                .OrderByDescending(bin => bin, StringComparer.Ordinal)
                .FirstOrDefault()
            : null;
        return installed ?? throw new InvalidOperationException(
            "PostgreSQL server binaries were not found. Install them (Debian/Ubuntu: apt-get install postgresql) or set POSTGRES_BIN to the folder holding initdb and pg_ctl.");
    }
}
