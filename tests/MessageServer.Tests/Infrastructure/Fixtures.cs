namespace MessageServer.Tests.Infrastructure;

/// <summary>One PostgreSQL cluster for the whole test run; each test class gets its own database in it.</summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private PostgresServer? server;

    public PostgresServer Server => server ?? throw new InvalidOperationException("PostgreSQL has not started.");

    public async ValueTask InitializeAsync() => server = await PostgresServer.StartAsync();

    public async ValueTask DisposeAsync()
    {
        if (server is not null)
        {
            await server.DisposeAsync();
        }
    }
}

/// <summary>A server under test for one test class; the storage it uses is the subclass's choice.</summary>
public abstract class ServerFixture : IAsyncLifetime
{
    private MessageServerHost? host;

    public MessageServerHost Host => host ?? throw new InvalidOperationException("The server has not started.");

    public HttpClient Client => Host.Client;

    public abstract string StorageName { get; }

    /// <summary>A one-second heartbeat, so tests can see one without waiting the default 15 s.</summary>
    protected static Dictionary<string, string?> WithTestStreamSettings(Dictionary<string, string?> settings)
    {
        settings["STREAM_HEARTBEAT_SECONDS"] = "1";
        return settings;
    }

    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    public async ValueTask InitializeAsync() => host = await MessageServerHost.StartAsync(await CreateSettingsAsync());

    public virtual async ValueTask DisposeAsync()
    {
        if (host is not null)
        {
            await host.DisposeAsync();
        }
    }
}

public sealed class SqliteServerFixture : ServerFixture
{
    private readonly TemporaryDirectory directory = new("ms-sqlite-");

    public override string StorageName => "sqlite";

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(WithTestStreamSettings(MessageServerHost.SqliteSettings(directory.FullName)));

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        directory.Dispose();
    }
}

public sealed class PostgresServerFixture(PostgresFixture postgres) : ServerFixture
{
    public override string StorageName => "postgres";

    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        WithTestStreamSettings(postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync()));
}
