using MessageServer.Security;
using Npgsql;

namespace MessageServer.Storage.Postgres;

public sealed class PostgresTokenStore(NpgsqlDataSource dataSource) : ITokenStore
{
    public async Task<bool> CreateTokenAsync(string name, string hash, string readPatterns, string writePatterns, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "INSERT INTO access_tokens (name, token_hash, read_patterns, write_patterns) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = hash });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = readPatterns });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = writePatterns });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<AccessToken>> ListTokensAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT name, read_patterns, write_patterns, created_at, revoked_at FROM access_tokens ORDER BY name");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tokens = new List<AccessToken>();
        while (await reader.ReadAsync(cancellationToken))
        {
            tokens.Add(new AccessToken(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetFieldValue<DateTime>(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTime>(4)));
        }
        return tokens;
    }

    public async Task<bool> RevokeTokenAsync(string name, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE access_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL");
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = name });
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<ActiveToken>> ActiveTokensAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT name, token_hash, read_patterns, write_patterns FROM access_tokens WHERE revoked_at IS NULL");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tokens = new List<ActiveToken>();
        while (await reader.ReadAsync(cancellationToken))
        {
            tokens.Add(ActiveToken.FromStored(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }
        return tokens;
    }
}
