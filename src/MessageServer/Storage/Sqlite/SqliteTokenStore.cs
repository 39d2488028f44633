using MessageServer.Security;
using Microsoft.Data.Sqlite;

namespace MessageServer.Storage.Sqlite;

public sealed class SqliteTokenStore(SqliteMessageStore messages) : ITokenStore
{
    public async Task<bool> CreateTokenAsync(string name, string hash, string readPatterns, string writePatterns, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(
            """
            INSERT INTO access_tokens (name, token_hash, read_patterns, write_patterns, created_at_us)
            VALUES ($name, $hash, $read, $write, $now) ON CONFLICT (name) DO NOTHING
            """, connection);
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$hash", hash);
        command.Parameters.AddWithValue("$read", readPatterns);
        command.Parameters.AddWithValue("$write", writePatterns);
        command.Parameters.AddWithValue("$now", SqliteMessageStore.ToUnixMicroseconds(DateTime.UtcNow));
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<AccessToken>> ListTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(
            "SELECT name, read_patterns, write_patterns, created_at_us, revoked_at_us FROM access_tokens ORDER BY name", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tokens = new List<AccessToken>();
        while (await reader.ReadAsync(cancellationToken))
        {
            tokens.Add(new AccessToken(reader.GetString(0), reader.GetString(1), reader.GetString(2),
                SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(3)),
                reader.IsDBNull(4) ? null : SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(4))));
        }
        return tokens;
    }

    public async Task<bool> RevokeTokenAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(
            "UPDATE access_tokens SET revoked_at_us = $now WHERE name = $name AND revoked_at_us IS NULL", connection);
        command.Parameters.AddWithValue("$name", name);
        command.Parameters.AddWithValue("$now", SqliteMessageStore.ToUnixMicroseconds(DateTime.UtcNow));
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task<IReadOnlyList<ActiveToken>> ActiveTokensAsync(CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = new SqliteCommand(
            "SELECT name, token_hash, read_patterns, write_patterns FROM access_tokens WHERE revoked_at_us IS NULL", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var tokens = new List<ActiveToken>();
        while (await reader.ReadAsync(cancellationToken))
        {
            tokens.Add(ActiveToken.FromStored(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }
        return tokens;
    }
}
