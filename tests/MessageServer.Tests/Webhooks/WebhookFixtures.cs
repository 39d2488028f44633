using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Webhooks;

/// <summary>Receivers live on loopback, so these servers allow private targets; retries come after about a second.</summary>
internal static class WebhookTestSettings
{
    public static Dictionary<string, string?> With(Dictionary<string, string?> settings)
    {
        settings["WEBHOOK_ALLOW_PRIVATE"] = "true";
        settings["WEBHOOK_RETRY_SCHEDULE"] = "1,1,1";
        return settings;
    }
}

public sealed class SqliteWebhookServerFixture : ServerFixture
{
    private readonly TemporaryDirectory directory = new("ms-webhooks-");

    public override string StorageName => "sqlite";

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(WebhookTestSettings.With(MessageServerHost.SqliteSettings(directory.FullName)));

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        directory.Dispose();
    }
}

public sealed class PostgresWebhookServerFixture(PostgresFixture postgres) : ServerFixture
{
    public override string StorageName => "postgres";

    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        WebhookTestSettings.With(postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync()));
}
