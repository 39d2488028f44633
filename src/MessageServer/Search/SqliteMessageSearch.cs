using System.Text;
using System.Text.Json;
using MessageServer.Messages;
using MessageServer.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace MessageServer.Search;

/// <summary>
/// Search on SQLite: the FTS5 table messages_search (tokenizer unicode61 remove_diacritics 2, filled by
/// <see cref="SqliteSearchIndexer"/>, which a search first has catch up with the stored messages when it runs
/// behind) and the query's AST rendered as an FTS5 MATCH expression in which every term is a quoted string, so
/// nothing a user types is read as FTS5 syntax.
/// </summary>
public sealed class SqliteMessageSearch(string path, SqliteSearchIndexer indexer) : IMessageSearch
{
    private readonly string connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = path,
        Mode = SqliteOpenMode.ReadWrite,
        Pooling = true,
        DefaultTimeout = 15,
    }.ToString();

    public async Task<IReadOnlyList<Message>> SearchAsync(SearchRequest request, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        if (await SqliteSearchIndexer.ProgressAsync(connection, cancellationToken) is var (latest, indexedThrough) && latest > indexedThrough)
        {
            await indexer.CatchUpAsync(latest, cancellationToken);
        }
        await using var command = new SqliteCommand { Connection = connection };
        var sql = new StringBuilder(
            """
            SELECT m.id, m.topic, m.author, m.text, m.created_at_us
            FROM messages_search JOIN messages m ON m.id = messages_search.rowid
            WHERE messages_search MATCH $match AND messages_search.rowid < $before
            """);
        command.Parameters.AddWithValue("$match", Render(request.Query));
        command.Parameters.AddWithValue("$before", request.BeforeId);
        if (request.Topic is not null)
        {
            sql.Append(" AND m.topic = $topic");
            command.Parameters.AddWithValue("$topic", request.Topic);
        }
        if (request.TopicPatterns is not null)
        {
            sql.Append(" AND EXISTS (SELECT 1 FROM json_each($patterns) AS pattern WHERE m.topic GLOB pattern.value)");
            command.Parameters.AddWithValue("$patterns", JsonSerializer.Serialize(request.TopicPatterns.Select(GlobPattern), SearchJsonContext.Default.IEnumerableString));
        }
        sql.Append(" ORDER BY messages_search.rowid DESC LIMIT $limit");
        command.Parameters.AddWithValue("$limit", request.Limit);
        command.CommandText = sql.ToString();

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(new Message(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(4))));
        }
        return messages;
    }

    /// <summary>The query as FTS5 MATCH text: (group) AND (group) NOT (exclusion OR exclusion), each term quoted.</summary>
    internal static string Render(SearchQuery query)
    {
        var wanted = string.Join(" AND ", query.AllOf.Select(Alternatives));
        return query.NoneOf.Count == 0 ? wanted : $"({wanted}) NOT {Alternatives(query.NoneOf)}";
    }

    private static string Alternatives(IReadOnlyList<SearchTerm> terms) =>
        $"({string.Join(" OR ", terms.Select(Term))})";

    /// <summary>A quoted FTS5 string (a phrase of its tokens), its quotes doubled; a trailing * makes the last token a prefix.</summary>
    private static string Term(SearchTerm term) =>
        $"\"{term.Text.Replace("\"", "\"\"", StringComparison.Ordinal)}\"{(term.Prefix ? " *" : "")}";

    /// <summary>A topic pattern ('*' any run of characters) as a GLOB pattern, its other characters literal.</summary>
    internal static string GlobPattern(string pattern) =>
        pattern.Replace("[", "[[]", StringComparison.Ordinal).Replace("?", "[?]", StringComparison.Ordinal);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(IEnumerable<string>))]
internal sealed partial class SearchJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
