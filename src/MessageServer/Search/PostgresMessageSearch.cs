using System.Text;
using MessageServer.Messages;
using Npgsql;
using NpgsqlTypes;

namespace MessageServer.Search;

/// <summary>
/// Search on PostgreSQL: indexed messages are matched in search_documents (a tsvector per message, GIN-indexed,
/// written by <see cref="PostgresSearchIndexer"/>), the few still queued for it are folded on the spot, and so are
/// the messages of an upgrade not yet backfilled; a message is found as soon as its publish is answered. The query's
/// AST becomes a tsquery expression whose leaves are bound parameters: message_search_term folds each one with the
/// same function that folds the messages (unaccent, lower case, punctuation to spaces) before to_tsquery sees it,
/// so no user text is ever read as tsquery syntax.
/// </summary>
public sealed class PostgresMessageSearch(NpgsqlDataSource dataSource) : IMessageSearch
{
    // Once the backfill of an upgrade is done it stays done: from then on searches skip asking.
    private volatile bool backfillDone;

    public async Task<IReadOnlyList<Message>> SearchAsync(SearchRequest request, CancellationToken cancellationToken)
    {
        var notBackfilledBelow = backfillDone ? 0 : await NotBackfilledBelowAsync(cancellationToken);
        backfillDone = notBackfilledBelow == 0;

        await using var command = dataSource.CreateCommand();
        command.CommandText = Sql(request, notBackfilledBelow, command.Parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(new Message(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTime>(4)));
        }
        return messages;
    }

    /// <summary>
    /// The search's SELECT, its values added to <paramref name="parameters"/>: the messages whose id is among the
    /// matches of the index, of the queue and (while <paramref name="notBackfilledBelow"/> is above 0) of the
    /// messages not backfilled yet. Each branch has its own bound on the ids, so the planner sees how few rows the
    /// queue and the backfill hold.
    /// </summary>
    internal static string Sql(SearchRequest request, long notBackfilledBelow, NpgsqlParameterCollection parameters)
    {
        var query = Render(request.Query, parameters);
        var before = Add(parameters, request.BeforeId);
        var sql = new StringBuilder("SELECT id, topic, author, text, created_at FROM messages WHERE id IN (");
        sql.Append("SELECT id FROM search_documents WHERE document @@ (").Append(query).Append(") AND id < ").Append(before);
        sql.Append(" UNION ALL SELECT m.id FROM search_pending p JOIN messages m ON m.id = p.id WHERE p.id < ").Append(before)
            .Append(" AND message_search_document(m.author, m.text) @@ (").Append(query).Append(')');
        if (notBackfilledBelow > 0)
        {
            sql.Append(" UNION ALL SELECT id FROM messages WHERE id < ").Append(Add(parameters, Math.Min(notBackfilledBelow, request.BeforeId)))
                .Append(" AND message_search_document(author, text) @@ (").Append(query).Append(')');
        }
        sql.Append(')');
        if (request.Topic is not null)
        {
            sql.Append(" AND topic = ").Append(Add(parameters, request.Topic));
        }
        if (request.TopicPatterns is not null)
        {
            sql.Append(" AND topic LIKE ANY (").Append(Add(parameters, request.TopicPatterns.Select(LikePattern).ToArray())).Append(')');
        }
        sql.Append(" ORDER BY id DESC LIMIT ").Append(Add(parameters, request.Limit));
        return sql.ToString();
    }

    /// <summary>The messages below this id may not be indexed yet (0: all are).</summary>
    private async Task<long> NotBackfilledBelowAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("SELECT coalesce(max(next_below), 0) FROM search_backfill");
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
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
