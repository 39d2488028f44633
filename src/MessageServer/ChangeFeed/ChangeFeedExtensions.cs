using MessageServer.Configuration;

namespace MessageServer.ChangeFeed;

public static class ChangeFeedExtensions
{
    /// <summary>
    /// The change feed of the configured store: LISTEN/NOTIFY across the instances sharing a PostgreSQL database, or
    /// in-process for the one SQLite instance; either hands changes to every registered <see cref="IChangeConsumer"/>.
    /// </summary>
    public static IServiceCollection AddChangeFeed(this IServiceCollection services, ServerSettings settings)
    {
        if (settings.Postgres is not null)
        {
            services.AddSingleton<PostgresChangeFeed>();
            services.AddSingleton<IChangeFeed>(provider => provider.GetRequiredService<PostgresChangeFeed>());
            services.AddHostedService(provider => provider.GetRequiredService<PostgresChangeFeed>());
        }
        else
        {
            services.AddSingleton<IChangeFeed, InProcessChangeFeed>();
        }
        services.AddSingleton<ChangeConsumers>();
        return services;
    }
}
