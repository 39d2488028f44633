using System.Text;
using MessageServer.Messages;
using Npgsql;
using NpgsqlTypes;

namespace MessageServer.Search;

/// <summary>
/// Search on PostgreSQL: every message is indexed as message_search_document(author, text) (a GIN expression index,
/// see <see cref="PostgresSearchIndex"/>), and the query's AST becomes a tsquery expression whose leaves are bound
/// parameters: message_search_term folds each one with the same function that folds the messages (unaccent, lower
/// case, punctuation to spaces) before to_tsquery sees it, so no user text is ever read as tsquery syntax.
/// </summary>
public sealed class PostgresMessageSearch(NpgsqlDataSource dataSource) : IMessageSearch
{
    public async Task<IReadOnlyList<Message>> SearchAsync(SearchRequest request, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand();
        var sql = new StringBuilder("SELECT id, topic, author, text, created_at FROM messages WHERE message_search_document(author, text) @@ (");
        sql.Append(Render(request.Query, command.Parameters));
        sql.Append(") AND id < ").Append(Add(command.Parameters, request.BeforeId));
        if (request.Topic is not null)
        {
            sql.Append(" AND topic = ").Append(Add(command.Parameters, request.Topic));
        }
        if (request.TopicPatterns is not null)
        {
            sql.Append(" AND topic LIKE ANY (").Append(Add(command.Parameters, request.TopicPatterns.Select(LikePattern).ToArray())).Append(')');
        }
        sql.Append(" ORDER BY id DESC LIMIT ").Append(Add(command.Parameters, request.Limit));
        command.CommandText = sql.ToString();

        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(new Message(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTime>(4)));
        }
        return messages;
    }

    /// <summary>The query as a tsquery expression: groups joined by &amp;&amp;, alternatives by ||, exclusions negated by !!.</summary>
    internal static string Render(SearchQuery query, NpgsqlParameterCollection parameters)
    {
        var parts = query.AllOf.Select(group => Alternatives(group, parameters)).ToList();
        if (query.NoneOf.Count > 0)
        {
            parts.Add($"!!{Alternatives(query.NoneOf, parameters)}");
        }
        return string.Join(" && ", parts);
    }

    private static string Alternatives(IReadOnlyList<SearchTerm> terms, NpgsqlParameterCollection parameters) =>
        terms.Count == 1
            ? Term(terms[0], parameters)
            : $"({string.Join(" || ", terms.Select(term => Term(term, parameters)))})";

    private static string Term(SearchTerm term, NpgsqlParameterCollection parameters) =>
        $"message_search_term({Add(parameters, term.Text)}, {(term.Prefix ? "true" : "false")})";

    /// <summary>A topic pattern ('*' any run of characters) as a LIKE pattern, its other characters literal.</summary>
    internal static string LikePattern(string pattern) =>
        pattern.Replace(@"\", @"\\", StringComparison.Ordinal)
            .Replace("%", @"\%", StringComparison.Ordinal)
            .Replace("_", @"\_", StringComparison.Ordinal)
            .Replace('*', '%');

    private static string Add<T>(NpgsqlParameterCollection parameters, T value)
    {
        parameters.Add(new NpgsqlParameter<T> { TypedValue = value });
        return $"${parameters.Count}";
    }
}
