using System.Globalization;
using System.Reflection;
using Npgsql;

namespace MessageServer.Configuration;

/// <summary>Everything the server reads from its environment, parsed and checked once at start-up.</summary>
public sealed record ServerSettings(int Port, PostgresSettings? Postgres, string SqlitePath, string Version)
{
    /// <summary>How often an idle stream gets a comment line, so proxies (an ALB cuts at 60 s) keep it open.</summary>
    public TimeSpan StreamHeartbeat { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>Events queued per stream subscriber before it counts as too slow and is cut off.</summary>
    public int StreamSubscriberBuffer { get; init; } = 1000;

    /// <summary>
    /// PostgreSQL connections this instance's searches use at once; more searches wait their turn. A few busy
    /// backends per core answer faster than many that the database's scheduler time-slices.
    /// </summary>
    public int SearchConnections { get; init; } = 4;

    /// <summary>
    /// When set, the server listens on this Unix socket instead of PORT: the deploy's front proxy connects there,
    /// and no network port of the app is open at all.
    /// </summary>
    public string? SocketPath { get; init; }

    /// <summary>The longest Unix socket path Linux accepts (sun_path holds 108 bytes with the terminating zero).</summary>
    public const int MaxSocketPathBytes = 107;

    /// <summary>Whether /metrics is served at all (METRICS=off turns it off).</summary>
    public bool MetricsEnabled { get; init; } = true;

    /// <summary>When set, /metrics is served on this port only, e.g. one the security group keeps private.</summary>
    public int? MetricsPort { get; init; }

    /// <summary>
    /// When set, a second port that speaks HTTP/2 without TLS (h2c, prior knowledge) for a front proxy that
    /// multiplexes many clients' streams over a few connections to the app, instead of one connection per stream.
    /// </summary>
    public int? H2cPort { get; init; }

    /// <summary>One JSON object per log line (LOG_FORMAT=json, for CloudWatch) instead of human-readable text.</summary>
    public bool JsonLogs { get; init; }

    /// <summary>What clients without a token may do: read-write (the default), read-only or none.</summary>
    public AnonymousAccess AnonymousAccess { get; init; } = AnonymousAccess.ReadWrite;

    /// <summary>Per-client-address limits on publishes and open streams; null when RATE_LIMIT=off.</summary>
    public RateLimits? RateLimits { get; init; } = new(50, 300, 100);

    /// <summary>Proxies (e.g. an ALB's subnets) whose X-Forwarded-For names the real client address.</summary>
    public IReadOnlyList<System.Net.IPNetwork> TrustedProxies { get; init; } = [];

    /// <summary>Browser origins allowed to call the API from other sites; none (CORS off) by default.</summary>
    public IReadOnlyList<string> CorsOrigins { get; init; } = [];

    /// <summary>What the retention job removes; both parts are off by default.</summary>
    public RetentionPolicy Retention { get; init; } = new(null, null, TimeSpan.FromMinutes(5));

    /// <summary>WEBHOOK_RETRY_SCHEDULE and WEBHOOK_ALLOW_PRIVATE.</summary>
    public WebhookSettings Webhooks { get; init; } = WebhookSettings.Default;

    public const int DefaultPort = 5002;
    public const string DefaultSqlitePath = "data/messages.db";

    public string StorageDescription => Postgres is null ? $"sqlite {SqlitePath}" : $"postgres {Postgres.Describe()}";

    /// <summary>
    /// Reads the settings; on failure <paramref name="errors"/> holds one line per wrong variable,
    /// each naming the variable and what it expects (never a secret's value).
    /// </summary>
    public static bool TryLoad(IConfiguration configuration, out ServerSettings settings, out IReadOnlyList<string> errors)
    {
        var problems = new List<string>();
        string? Read(string name) => string.IsNullOrWhiteSpace(configuration[name]) ? null : configuration[name]!.Trim();

        settings = new ServerSettings(
            ParsePort(Read("PORT"), "PORT", DefaultPort, allowZero: true, problems),
            Read("POSTGRES_HOST") is { } host ? PostgresSettings.Parse(host, Read, problems) : null,
            Read("SQLITE_PATH") ?? DefaultSqlitePath,
            Read("APP_VERSION") ?? BuildVersion())
        {
            StreamHeartbeat = TimeSpan.FromSeconds(ParseNumber(Read("STREAM_HEARTBEAT_SECONDS"), "STREAM_HEARTBEAT_SECONDS", 15, 1, 300, problems)),
            StreamSubscriberBuffer = ParseNumber(Read("STREAM_SUBSCRIBER_BUFFER"), "STREAM_SUBSCRIBER_BUFFER", 1000, 1, 1_000_000, problems),
            SearchConnections = ParseNumber(Read("SEARCH_CONNECTIONS"), "SEARCH_CONNECTIONS", 4, 1, 100, problems),
            SocketPath = ParseSocketPath(Read("SOCKET_PATH"), problems),
            MetricsEnabled = ParseChoice(Read("METRICS"), "METRICS", true, OnOff, problems),
            MetricsPort = Read("METRICS_PORT") is { } metricsPort ? ParsePort(metricsPort, "METRICS_PORT", 0, allowZero: false, problems) : null,
            H2cPort = Read("H2C_PORT") is { } h2cPort ? ParsePort(h2cPort, "H2C_PORT", 0, allowZero: false, problems) : null,
            JsonLogs = ParseChoice(Read("LOG_FORMAT"), "LOG_FORMAT", false, [("text", false), ("json", true)], problems),
            Retention = RetentionPolicy.Parse(Read, problems),
            Webhooks = WebhookSettings.Parse(Read, problems),
            AnonymousAccess = ParseChoice(Read("AUTH_DEFAULT_ACCESS"), "AUTH_DEFAULT_ACCESS", AnonymousAccess.ReadWrite,
                [("read-write", AnonymousAccess.ReadWrite), ("read-only", AnonymousAccess.ReadOnly), ("none", AnonymousAccess.None)], problems),
            RateLimits = RateLimits.Parse(Read, problems),
            TrustedProxies = ParseTrustedProxies(Read("TRUSTED_PROXIES"), problems),
            CorsOrigins = ParseCorsOrigins(Read("CORS_ORIGINS"), problems),
        };
        if (settings.MetricsPort is > 0 and var separatePort && separatePort == settings.Port && settings.SocketPath is null)
        {
            problems.Add($"METRICS_PORT must differ from PORT ({settings.Port}): it is a second port that serves /metrics; leave it unset to serve /metrics on PORT.");
        }
        if (settings.H2cPort is > 0 and var h2c && ((h2c == settings.Port && settings.SocketPath is null) || h2c == settings.MetricsPort))
        {
            problems.Add($"H2C_PORT must differ from PORT and METRICS_PORT: it is a second port that speaks HTTP/2 without TLS, got {h2c}.");
        }
        errors = problems;
        return problems.Count == 0;
    }

    /// <summary>An on/off switch: true for on.</summary>
    internal static readonly (string Word, bool Value)[] OnOff = [("on", true), ("off", false)];

    private static readonly (string Word, bool Value)[] Booleans =
        [("true", true), ("false", false), ("1", true), ("0", false), ("yes", true), ("no", false), ("on", true), ("off", false)];

    /// <summary>
    /// One of a few words, in any case: on/off switches and enum values. The error lists the words ("a, b or c"),
    /// or says <paramref name="expected"/> where the list would be too long or has aliases.
    /// </summary>
    internal static T ParseChoice<T>(string? value, string name, T fallback, IReadOnlyList<(string Word, T Value)> choices, List<string> problems, string? expected = null)
    {
        if (value is null)
        {
            return fallback;
        }
        foreach (var (word, choice) in choices)
        {
            if (string.Equals(word, value, StringComparison.OrdinalIgnoreCase))
            {
                return choice;
            }
        }
        var words = choices.Select(choice => choice.Word).ToArray();
        expected ??= $"{string.Join(", ", words[..^1])} or {words[^1]}";
        problems.Add($"{name} must be {expected}, got '{value}'.");
        return fallback;
    }

    internal static bool ParseBoolean(string? value, string name, List<string> problems) =>
        ParseChoice(value, name, false, Booleans, problems, expected: "true or false");

    internal static int ParsePort(string? value, string name, int fallback, bool allowZero, List<string> problems) =>
        ParseNumber(value, name, fallback, allowZero ? 0 : 1, 65535, problems, "a port number");

    internal static int ParseNumber(string? value, string name, int fallback, int minimum, int maximum, List<string> problems, string what = "a whole number")
    {
        if (value is null)
        {
            return fallback;
        }
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= minimum && number <= maximum)
        {
            return number;
        }
        problems.Add($"{name} must be {what} from {minimum} to {maximum}, got '{value}'.");
        return fallback;
    }

    private static string? ParseSocketPath(string? path, List<string> problems)
    {
        if (path is not null && (!Path.IsPathFullyQualified(path) || System.Text.Encoding.UTF8.GetByteCount(path) > MaxSocketPathBytes || !Directory.Exists(Path.GetDirectoryName(path))))
        {
            problems.Add($"SOCKET_PATH must be an absolute path of at most {MaxSocketPathBytes} bytes in an existing folder, got '{path}'.");
        }
        return path;
    }

    private static List<System.Net.IPNetwork> ParseTrustedProxies(string? list, List<string> problems)
    {
        var trustedProxies = new List<System.Net.IPNetwork>();
        foreach (var cidr in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (System.Net.IPNetwork.TryParse(cidr.Contains('/', StringComparison.Ordinal) ? cidr : cidr + (cidr.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out var network))
            {
                trustedProxies.Add(network);
            }
            else
            {
                problems.Add($"TRUSTED_PROXIES must be a comma-separated list of addresses or CIDR ranges (e.g. 10.0.0.0/16), got '{cidr}'.");
            }
        }
        return trustedProxies;
    }

    private static List<string> ParseCorsOrigins(string? list, List<string> problems)
    {
        var corsOrigins = new List<string>();
        foreach (var origin in (list ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.AbsolutePath == "/")
            {
                corsOrigins.Add(uri.GetLeftPart(UriPartial.Authority));
            }
            else
            {
                problems.Add($"CORS_ORIGINS must list origins like https://app.example.com, got '{origin}'.");
            }
        }
        return corsOrigins;
    }

    private static string BuildVersion()
    {
        var informational = typeof(ServerSettings).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion;
        return informational ?? "unknown";
    }
}

public enum AnonymousAccess
{
    None,
    ReadOnly,
    ReadWrite,
}

/// <summary>
/// Publishes per second (with a burst allowance) and open streams, per client: an IPv4 address, or the IPv6 network
/// of <see cref="Ipv6PrefixLength"/> bits around an IPv6 address.
/// </summary>
public sealed record RateLimits(int PublishesPerSecond, int PublishBurst, int StreamsPerClient, int Ipv6PrefixLength = 64)
{
    /// <summary>Reads RATE_LIMIT and the RATE_LIMIT_* values (checked even when off); null when RATE_LIMIT=off.</summary>
    internal static RateLimits? Parse(Func<string, string?> read, List<string> problems)
    {
        var enabled = ServerSettings.ParseChoice(read("RATE_LIMIT"), "RATE_LIMIT", true, ServerSettings.OnOff, problems);
        var limits = new RateLimits(
            ServerSettings.ParseNumber(read("RATE_LIMIT_PUBLISHES_PER_SECOND"), "RATE_LIMIT_PUBLISHES_PER_SECOND", 50, 1, 1_000_000, problems),
            ServerSettings.ParseNumber(read("RATE_LIMIT_PUBLISH_BURST"), "RATE_LIMIT_PUBLISH_BURST", 300, 1, 1_000_000, problems),
            ServerSettings.ParseNumber(read("RATE_LIMIT_STREAMS_PER_CLIENT"), "RATE_LIMIT_STREAMS_PER_CLIENT", 100, 1, 1_000_000, problems),
            ServerSettings.ParseNumber(read("RATE_LIMIT_IPV6_PREFIX"), "RATE_LIMIT_IPV6_PREFIX", 64, 32, 128, problems));
        return enabled ? limits : null;
    }
}

/// <summary>Messages older than <see cref="Days"/>, and beyond the newest <see cref="MaxPerTopic"/> of a topic, are removed.</summary>
public sealed record RetentionPolicy(int? Days, int? MaxPerTopic, TimeSpan Interval)
{
    public bool Enabled => Days is not null || MaxPerTopic is not null;

    /// <summary>Reads RETENTION_DAYS and RETENTION_MAX_PER_TOPIC (each off when unset) and RETENTION_INTERVAL_SECONDS.</summary>
    internal static RetentionPolicy Parse(Func<string, string?> read, List<string> problems) => new(
        read("RETENTION_DAYS") is { } days ? ServerSettings.ParseNumber(days, "RETENTION_DAYS", 0, 1, 36500, problems) : null,
        read("RETENTION_MAX_PER_TOPIC") is { } max ? ServerSettings.ParseNumber(max, "RETENTION_MAX_PER_TOPIC", 0, 1, int.MaxValue, problems) : null,
        TimeSpan.FromSeconds(ServerSettings.ParseNumber(read("RETENTION_INTERVAL_SECONDS"), "RETENTION_INTERVAL_SECONDS", 300, 1, 86400, problems)));

    public string Describe() => Enabled
        ? string.Join(" and ", new[] { Days is { } d ? $"older than {d} days" : null, MaxPerTopic is { } m ? $"beyond {m} per topic" : null }.Where(p => p is not null))
        : "off";
}

public sealed record PostgresSettings(
    string Host, int Port, string User, string Password, string Database, SslMode SslMode, string? SslRootCertificate)
{
    private static readonly (string Word, SslMode Value)[] SslModes =
        [("disable", SslMode.Disable), ("prefer", SslMode.Prefer), ("require", SslMode.Require), ("verify-ca", SslMode.VerifyCA), ("verify-full", SslMode.VerifyFull)];

    public string Describe() => $"{Host}:{Port}/{Database} as {User} (sslmode {SslModes.First(m => m.Value == SslMode).Word})";

    public string ConnectionString => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Username = User,
        Password = Password,
        Database = Database,
        SslMode = SslMode,
        RootCertificate = SslRootCertificate,
        // Bounded waits: a request must get a clear 503, not hang, when the database is away.
        Timeout = 5,
        CommandTimeout = 15,
        ApplicationName = "message-server",
        // No GSSAPI/Kerberos here (RDS and plain PostgreSQL use passwords and TLS): without this Npgsql probes for
        // libgssapi_krb5 on its first connection, which the image lacks, and logs a frightening, harmless error.
        GssEncryptionMode = GssEncryptionMode.Disable,
    }.ConnectionString;

    internal static PostgresSettings? Parse(string host, Func<string, string?> read, List<string> problems)
    {
        var before = problems.Count;
        var port = ServerSettings.ParsePort(read("POSTGRES_PORT"), "POSTGRES_PORT", 5432, allowZero: false, problems);
        var user = read("POSTGRES_USER");
        if (user is null)
        {
            problems.Add("POSTGRES_USER is required when POSTGRES_HOST is set (the database user name).");
        }
        var password = read("POSTGRES_PASSWORD");
        if (password is null)
        {
            problems.Add("POSTGRES_PASSWORD is required when POSTGRES_HOST is set (the database user's password).");
        }
        var database = read("POSTGRES_DB") ?? "postgres";
        var sslMode = ServerSettings.ParseChoice(read("POSTGRES_SSLMODE"), "POSTGRES_SSLMODE", SslMode.Prefer, SslModes, problems,
            expected: $"one of {string.Join(", ", SslModes.Select(mode => mode.Word))}");
        var rootCertificate = read("POSTGRES_SSLROOTCERT");
        if (rootCertificate is not null && !File.Exists(rootCertificate))
        {
            problems.Add($"POSTGRES_SSLROOTCERT points to '{rootCertificate}', which is not a readable file (give the path of the CA bundle, e.g. the RDS global bundle).");
        }
        return problems.Count > before ? null : new PostgresSettings(host, port, user!, password!, database, sslMode, rootCertificate);
    }
}
