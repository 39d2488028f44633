using MessageServer.Configuration;
using Microsoft.Extensions.Configuration;
using Npgsql;

namespace MessageServer.Tests.Configuration;

public sealed class ServerSettingsTests
{
    private static (ServerSettings Settings, IReadOnlyList<string> Errors, bool Ok) Load(params (string Name, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Name, v.Value)))
            .Build();
        var ok = ServerSettings.TryLoad(configuration, out var settings, out var errors);
        return (settings, errors, ok);
    }

    [Fact]
    public void Defaults_are_port_5002_and_embedded_sqlite()
    {
        var (settings, _, ok) = Load();

        Assert.True(ok);
        Assert.Equal((5002, null, "data/messages.db"), (settings.Port, settings.Postgres, settings.SqlitePath));
    }

    [Fact]
    public void Postgres_settings_use_the_documented_defaults()
    {
        var (settings, _, ok) = Load(("POSTGRES_HOST", "db.example"), ("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "pw"));

        Assert.True(ok);
        Assert.Equal(new PostgresSettings("db.example", 5432, "app", "pw", "postgres", SslMode.Prefer, null), settings.Postgres);
    }

    [Fact]
    public void PostgreSQL_connections_never_probe_for_GSSAPI_encryption()
    {
        var (settings, _, _) = Load(("POSTGRES_HOST", "db.example"), ("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "pw"));

        Assert.Equal(GssEncryptionMode.Disable, new NpgsqlConnectionStringBuilder(settings.Postgres!.ConnectionString).GssEncryptionMode);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("65536")]
    [InlineData("50 02")]
    public void A_bad_PORT_is_one_error_naming_PORT(string port)
    {
        var (_, errors, ok) = Load(("PORT", port));

        Assert.False(ok);
        Assert.StartsWith("PORT must be", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POSTGRES_USER")]
    [InlineData("POSTGRES_PASSWORD")]
    public void Postgres_without_a_required_variable_names_it(string missing)
    {
        var values = new[] { ("POSTGRES_HOST", "db"), ("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "pw") }.Where(v => v.Item1 != missing).ToArray();

        var (_, errors, ok) = Load(values);

        Assert.False(ok);
        Assert.StartsWith(missing + " is required", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("POSTGRES_PORT", "x", "POSTGRES_PORT must be")]
    [InlineData("POSTGRES_SSLMODE", "sometimes", "POSTGRES_SSLMODE must be one of")]
    [InlineData("POSTGRES_SSLROOTCERT", "/no/such/bundle.pem", "POSTGRES_SSLROOTCERT points to")]
    public void A_bad_postgres_variable_is_named(string name, string value, string expected)
    {
        var (_, errors, ok) = Load(("POSTGRES_HOST", "db"), ("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "pw"), (name, value));

        Assert.False(ok);
        Assert.StartsWith(expected, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void The_password_never_appears_in_errors_or_the_storage_description()
    {
        var (_, errors, _) = Load(("POSTGRES_HOST", "db"), ("POSTGRES_PASSWORD", "hunter2-secret"), ("POSTGRES_SSLMODE", "bogus"), ("POSTGRES_PORT", "x"));
        var (settings, _, _) = Load(("POSTGRES_HOST", "db"), ("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "hunter2-secret"));

        Assert.Equal(3, errors.Count);
        Assert.DoesNotContain(errors, e => e.Contains("hunter2-secret", StringComparison.Ordinal));
        Assert.DoesNotContain("hunter2-secret", settings.StorageDescription, StringComparison.Ordinal);
    }

    [Fact]
    public void A_blank_POSTGRES_HOST_means_sqlite()
    {
        var (settings, _, ok) = Load(("POSTGRES_HOST", "  "));

        Assert.True(ok);
        Assert.Null(settings.Postgres);
    }

    [Theory]
    [InlineData("16")]
    [InlineData("129")]
    [InlineData("/64")]
    public void RATE_LIMIT_IPV6_PREFIX_must_be_a_prefix_length_from_32_to_128(string value)
    {
        var (_, errors, ok) = Load(("RATE_LIMIT_IPV6_PREFIX", value));

        Assert.False(ok);
        Assert.StartsWith("RATE_LIMIT_IPV6_PREFIX must be a whole number from 32 to 128", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, 4)]
    [InlineData("1", 1)]
    [InlineData("100", 100)]
    public void SEARCH_CONNECTIONS_defaults_to_4(string? value, int expected)
    {
        var (settings, _, ok) = value is null ? Load() : Load(("SEARCH_CONNECTIONS", value));

        Assert.True(ok);
        Assert.Equal(expected, settings.SearchConnections);
    }

    [Theory]
    [InlineData("0")]
    [InlineData("101")]
    [InlineData("four")]
    public void A_bad_SEARCH_CONNECTIONS_is_one_error_naming_its_range(string value)
    {
        var (_, errors, ok) = Load(("SEARCH_CONNECTIONS", value));

        Assert.False(ok);
        Assert.Equal($"SEARCH_CONNECTIONS must be a whole number from 1 to 100, got '{value}'.", Assert.Single(errors));
    }

    [Fact]
    public void Switches_and_choices_are_read_in_any_case()
    {
        var (settings, _, ok) = Load(("METRICS", "OFF"), ("RATE_LIMIT", "Off"), ("LOG_FORMAT", "JSON"), ("AUTH_DEFAULT_ACCESS", "Read-Only"));

        Assert.True(ok);
        Assert.Equal((false, null, true, AnonymousAccess.ReadOnly), (settings.MetricsEnabled, settings.RateLimits, settings.JsonLogs, settings.AnonymousAccess));
    }

    [Theory]
    [InlineData("METRICS", "maybe", "METRICS must be on or off, got 'maybe'.")]
    [InlineData("RATE_LIMIT", "1", "RATE_LIMIT must be on or off, got '1'.")]
    [InlineData("LOG_FORMAT", "xml", "LOG_FORMAT must be text or json, got 'xml'.")]
    [InlineData("AUTH_DEFAULT_ACCESS", "admin", "AUTH_DEFAULT_ACCESS must be read-write, read-only or none, got 'admin'.")]
    [InlineData("WEBHOOK_ALLOW_PRIVATE", "maybe", "WEBHOOK_ALLOW_PRIVATE must be true or false, got 'maybe'.")]
    public void A_wrong_choice_is_one_error_listing_what_it_may_be(string name, string value, string expected)
    {
        var (_, errors, ok) = Load((name, value));

        Assert.False(ok);
        Assert.Equal(expected, Assert.Single(errors));
    }

    [Fact]
    public void Retention_limits_stay_off_unless_set_and_run_every_five_minutes_by_default()
    {
        var (settings, _, ok) = Load(("RETENTION_DAYS", "7"));

        Assert.True(ok);
        Assert.Equal(new RetentionPolicy(7, null, TimeSpan.FromMinutes(5)), settings.Retention);
    }

    [Fact]
    public void APP_VERSION_overrides_the_build_version()
    {
        Assert.Equal("2026-11-25-abc1234", Load(("APP_VERSION", "2026-11-25-abc1234")).Settings.Version);
    }

    [Theory]
    [InlineData("relative/app.sock")]
    [InlineData("/no/such/folder/app.sock")]
    public void A_SOCKET_PATH_that_cannot_be_bound_is_named(string path)
    {
        var (_, errors, ok) = Load(("SOCKET_PATH", path));

        Assert.False(ok);
        Assert.StartsWith("SOCKET_PATH must be an absolute path", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public void A_SOCKET_PATH_longer_than_Linux_allows_is_named()
    {
        var (_, errors, ok) = Load(("SOCKET_PATH", Path.Combine(Path.GetTempPath(), new string('s', 120))));

        Assert.False(ok);
        Assert.Contains("at most 107 bytes", Assert.Single(errors), StringComparison.Ordinal);
    }
}
