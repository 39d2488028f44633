using System.Diagnostics;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Security;

/// <summary>
/// TLS to the database as with RDS: a PostgreSQL with ssl=on and a certificate from a throwaway CA made here
/// with openssl. verify-full must work with the right CA and host name and refuse anything else, clearly.
/// </summary>
public sealed class DatabaseTlsTests : IAsyncLifetime
{
    private PostgresServer database = null!;

    private string Tls => Path.Combine(database.Directory, "tls");

    public async ValueTask InitializeAsync() =>
        database = await PostgresServer.StartAsync(extraOptions: directory =>
        {
            MakeCertificates(Path.Combine(directory, "tls"));
            return $"-c ssl=on -c ssl_cert_file={directory}/tls/server.pem -c ssl_key_file={directory}/tls/server.key";
        });

    public async ValueTask DisposeAsync() => await database.DisposeAsync();

    private Dictionary<string, string?> Settings(string host, string caFile)
    {
        var settings = database.SettingsFor("postgres");
        settings["POSTGRES_HOST"] = host;
        settings["POSTGRES_SSLMODE"] = "verify-full";
        settings["POSTGRES_SSLROOTCERT"] = Path.Combine(Tls, caFile);
        return settings;
    }

    [Fact]
    public async Task Verify_full_with_the_right_CA_and_host_name_connects_over_TLS()
    {
        await using var server = await MessageServerHost.StartAsync(Settings("localhost", "ca.pem"));

        var message = await server.Client.PublishAsync(UniqueTopic(), "over TLS");

        Assert.True(message.Id > 0);
        Assert.True(await database.QueryScalarAsync<bool>("postgres",
            "SELECT bool_and(s.ssl) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name LIKE 'message-server%'"));
    }

    [Theory]
    [InlineData("localhost", "other-ca.pem")]
    [InlineData("127.0.0.1", "ca.pem")]
    public async Task A_wrong_CA_or_host_name_is_refused_with_a_clear_message_and_never_downgraded(string host, string caFile)
    {
        await using var server = await ServerProcess.StartAsync(Settings(host, caFile), waitUntilReady: false);

        await server.WaitForOutputAsync("Database is not ready yet", TimeSpan.FromSeconds(20));
        using var ready = await server.Client.GetAsync("/ready");

        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var line = server.Output.Split('\n').First(l => l.Contains("Database is not ready yet", StringComparison.Ordinal));
        Assert.Contains("certificate", line, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(0L, await database.QueryScalarAsync<long>("postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'message-server%'"));
    }

    private static void MakeCertificates(string directory)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, "server.ext"), "subjectAltName=DNS:localhost\n");
        foreach (var arguments in new[]
        {
            "req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=message-server-test-ca",
            "req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=another-ca",
            "req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost",
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile server.ext",
        })
        {
            using var openssl = Process.Start(new ProcessStartInfo("openssl", arguments)
            {
                WorkingDirectory = directory,
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            })!;
            var errors = openssl.StandardError.ReadToEnd();
            openssl.WaitForExit();
            Assert.True(openssl.ExitCode == 0, $"openssl {arguments}: {errors}");
        }
        // PostgreSQL refuses a key others can read (and the tests run on Linux only).
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        File.SetUnixFileMode(Path.Combine(directory, "server.key"), UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }
}
