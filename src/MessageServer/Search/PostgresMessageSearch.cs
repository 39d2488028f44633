using System.Globalization;
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

    // How many of the newest documents a search reads before the index, per match the page asks for: a word in at
    // least one message in this many usually fills the page there.
    private const int NewestWindowPerMatch = 10;

    /// <summary>
    /// The search's SELECT, its values added to <paramref name="parameters"/>: the newest matches among the index,
    /// the queue and (while <paramref name="notBackfilledBelow"/> is above 0) the messages not backfilled yet, by id
    /// only; then those few messages. Which of the index's two ways to take is decided here, not left to the planner:
    /// given an ORDER BY id DESC LIMIT, PostgreSQL walks down the ids whenever it overestimates how common a word is,
    /// and for a word it has no statistics on (every rare one) it assumes about 0.1% of the messages, so a rare word
    /// read all million ids (1.7 s) instead of ten GIN entries; without that, a common word read all its 200,000
    /// matches through GIN (0.5 s) instead of the newest 250 documents.
    /// </summary>
    internal static string Sql(SearchRequest request, long notBackfilledBelow, NpgsqlParameterCollection parameters)
    {
        var query = Render(request.Query, parameters);
        // What limits every branch alike: the page (before) and the topics.
        var page = request.Before is { } before ? $" AND {{0}}id < {Add(parameters, before)}" : "";
        var limits = new StringBuilder(page);
        if (request.Topic is not null)
        {
            limits.Append(" AND {0}topic = ").Append(Add(parameters, request.Topic));
        }
        if (request.TopicPatterns is not null)
        {
            limits.Append(" AND {0}topic LIKE ANY (").Append(Add(parameters, request.TopicPatterns.Select(LikePattern).ToArray())).Append(')');
        }
        string Within(string table) => limits.ToString().Replace("{0}", table, StringComparison.Ordinal);

        // The newest documents are read first (a walk down the ids, fenced so it reads exactly that many): a common
        // word fills the page there, and the GIN lookup, which would read every one of its matches, is skipped (a
        // one-time filter). Only a rarer word goes on to the index, for the documents older than that window.
        var limit = Add(parameters, request.Limit);
        var sql = new StringBuilder("WITH newest AS MATERIALIZED (SELECT id, topic, document FROM search_documents WHERE true")
            .Append(string.Format(CultureInfo.InvariantCulture, page, "")).Append(" ORDER BY id DESC LIMIT ").Append(limit).Append(" * ").Append(NewestWindowPerMatch).Append("),");
        sql.Append(" recent AS MATERIALIZED (SELECT id FROM newest WHERE document @@ (").Append(query).Append(')').Append(Within("")).Append(')');
        sql.Append(" SELECT id, topic, author, text, created_at FROM messages WHERE id IN (SELECT id FROM (SELECT id FROM recent");
        sql.Append(" UNION ALL SELECT id FROM (SELECT id FROM search_documents WHERE document @@ (").Append(query).Append(')')
            // "id + 0": a bound for the rows the index returns, never a range of the primary key to read.
            .Append(" AND id + 0 < (SELECT coalesce(min(id), 0) FROM newest)").Append(Within(""))
            .Append(" AND (SELECT count(*) FROM recent) < ").Append(limit).Append(" OFFSET 0) indexed");
        // The queue is joined message by message (a fenced LATERAL): its statistics are often stale (it empties and
        // fills all the time), and a plan that read a topic's messages to fold each would cost far more.
        sql.Append(" UNION ALL SELECT m.id FROM search_pending p CROSS JOIN LATERAL (SELECT id, topic, author, text FROM messages WHERE id = p.id OFFSET 0) m")
            .Append(" WHERE message_search_document(m.author, m.text) @@ (").Append(query).Append(')').Append(Within("m."));
        if (notBackfilledBelow > 0)
        {
            // Within one snapshot a message is in the index or still to backfill, never both: the bound read
            // before this statement may be behind the backfill, not ahead of it.
            sql.Append(" UNION ALL SELECT m.id FROM messages m WHERE m.id < ").Append(Add(parameters, notBackfilledBelow))
                .Append(" AND NOT EXISTS (SELECT 1 FROM search_documents d WHERE d.id = m.id)")
                .Append(" AND message_search_document(m.author, m.text) @@ (").Append(query).Append(')').Append(Within("m."));
        }
        sql.Append(") found ORDER BY id DESC LIMIT ").Append(limit).Append(") ORDER BY id DESC");
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
