using MessageServer.Configuration;
using MessageServer.Storage.Postgres;
using MessageServer.Storage.Sqlite;
using MessageServer.Security;
using Npgsql;

namespace MessageServer.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// PostgreSQL when POSTGRES_HOST is set, else embedded SQLite, for messages and tokens; migrated in the background
    /// either way, with readiness and the 503 of an unreachable database.
    /// </summary>
    public static IServiceCollection AddStorage(this IServiceCollection services, ServerSettings settings)
    {
        services.AddSingleton<DatabaseState>();
        if (settings.Postgres is { } postgres)
        {
            services.AddSingleton(_ => NpgsqlDataSource.Create(postgres.ConnectionString));
            services.AddSingleton<PostgresMessageStore>();
            services.AddSingleton<IMessageStore>(provider => provider.GetRequiredService<PostgresMessageStore>());
            services.AddSingleton<ITokenStore, PostgresTokenStore>();
        }
        else
        {
            services.AddSingleton(provider => new SqliteMessageStore(settings.SqlitePath, provider.GetRequiredService<ILoggerFactory>()));
            services.AddSingleton<IMessageStore>(provider => provider.GetRequiredService<SqliteMessageStore>());
            services.AddSingleton<ITokenStore, SqliteTokenStore>();
        }
        services.AddHostedService<DatabaseStartup>();
        services.AddExceptionHandler<DatabaseUnavailable>();
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database");
        return services;
    }
}
