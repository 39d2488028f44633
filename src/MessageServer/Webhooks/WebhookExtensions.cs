using MessageServer.ChangeFeed;
using MessageServer.Configuration;
using MessageServer.Storage.Sqlite;
using Npgsql;

namespace MessageServer.Webhooks;

public static class WebhookExtensions
{
    /// <summary>
    /// Webhooks: their store (the same database as the messages), the SSRF-checked sender, the delivery worker and
    /// its wake-up on the change feed.
    /// </summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services, ServerSettings settings)
    {
        if (settings.Postgres is { } postgres)
        {
            services.AddSingleton<IWebhookStore>(provider => new PostgresWebhookStore(provider.GetRequiredService<NpgsqlDataSource>(), postgres.ConnectionString));
        }
        else
        {
            services.AddSingleton<IWebhookStore>(provider => new SqliteWebhookStore(provider.GetRequiredService<SqliteMessageStore>()));
        }
        services.AddSingleton(new WebhookTargets(settings.Webhooks.AllowPrivateTargets));
        services.AddSingleton<WebhookSender>();
        services.AddSingleton<WebhookDeliveryWorker>();
        services.AddHostedService(provider => provider.GetRequiredService<WebhookDeliveryWorker>());
        services.AddSingleton<IChangeConsumer, WebhookWakeUp>();
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, WebhookJsonContext.Default));
        return services;
    }
}
