using System.Text;
using MessageServer.Configuration;
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
public sealed class PostgresMessageSearch(ServerSettings settings, PostgresWordFrequencies frequencies) : IMessageSearch, IAsyncDisposable
{
    // Planning a search cost more than running it (0.7 ms against 0.5 for a rare word). Its plan is fixed by the
    // SQL itself (fences, one-time filters, the index's way chosen below), so each shape of search (how many terms,
    // which limits) is prepared once per connection and planned once, generically, whatever its words. A prepared
    // search holds about 160 KB in its connection's backend: the 20 most used shapes are kept.
    private readonly NpgsqlDataSource dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(settings.Postgres!.ConnectionString)
    {
        ApplicationName = "message-server-search",
        MaxAutoPrepare = 20,
        AutoPrepareMinUsages = 2,
        Options = "-c plan_cache_mode=force_generic_plan",
        // A search changes no session state, so a connection back in the pool needs no reset statement.
        NoResetOnClose = true,
        // Searches beyond these wait for a connection in turn (FIFO) instead of crowding the database: at 16 searches
        // at once on 2 cores, a pool of 100 gave a rare word's search a p99 of 58-84 ms, a pool of 4 one of 7-9 ms at
        // the same rate. One that waits longer than the connect timeout (5 s) is a 503.
        MaxPoolSize = settings.SearchConnections,
        // A search still running after 5 s (a broad prefix over millions of messages, a long queue to fold) is
        // cancelled and answered 503, so that it gives its connection back to the searches waiting for one.
        CommandTimeout = 5,
    });

    // Once the backfill of an upgrade is done it stays done: from then on searches skip asking.
    private volatile bool backfillDone;

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();

    public async Task<IReadOnlyList<Message>> SearchAsync(SearchRequest request, CancellationToken cancellationToken)
    {
        var notBackfilledBelow = backfillDone ? 0 : await NotBackfilledBelowAsync(cancellationToken);
        backfillDone = notBackfilledBelow == 0;
        var plan = Plan(await frequencies.CurrentAsync(cancellationToken), request.Query);

        await using var command = dataSource.CreateCommand();
        command.CommandText = Sql(request, notBackfilledBelow, plan, command.Parameters);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var messages = new List<Message>();
        while (await reader.ReadAsync(cancellationToken))
        {
            messages.Add(new Message(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetFieldValue<DateTime>(4)));
        }
        return messages;
    }

    /// <summary>
    /// How a search reads the index: the newest documents first or not, and by which terms it looks documents up in
    /// GIN (any of them; null: by the whole query), checking the whole query on what that returns.
    /// </summary>
    internal sealed record SearchPlan(bool NewestFirst, IReadOnlyList<SearchTerm>? Lookup);

    // How many of the newest documents a search reads before the index, per match the page asks for: a word in at
    // least one message in this many usually fills the page there.
    private const int NewestWindowPerMatch = 10;

    /// <summary>
    /// The plan for a query by the statistics. The newest documents are read first only when the query may well
    /// fill the page there; any rarer query would read the index anyway, for what the window did not hold, so it
    /// goes to the index at once. An unknown share is taken as common: read first, the window costs a rare word a
    /// fraction of a millisecond, while the index read first costs a common word every one of its matches. GIN is asked for the rarest group only (the rarest word of each of its terms)
    /// and the whole query is checked on the few documents that returns: GIN intersecting a rare word with a common
    /// one, or excluding a common one, decodes every entry of the common word (14 ms for 200,000).
    /// </summary>
    internal static SearchPlan Plan(WordFrequencies frequencies, SearchQuery query) =>
        frequencies.Rarest(query) is { } rarest
            ? new SearchPlan(rarest.Share >= 1.0 / NewestWindowPerMatch, query.AllOf[rarest.Group].Select(frequencies.RarestWord).ToList())
            : new SearchPlan(NewestFirst: true, Lookup: null);

    /// <summary>
    /// The search's SELECT, its values added to <paramref name="parameters"/>: the newest matches among the index,
    /// the queue and (while <paramref name="notBackfilledBelow"/> is above 0) the messages not backfilled yet, by id
    /// only; then those few messages. Which of the index's ways to take is the <paramref name="plan"/>'s, not left
    /// to the planner: given an ORDER BY id DESC LIMIT, PostgreSQL walks down the ids whenever it overestimates how
    /// common a word is, and for a word it has no statistics on (every rare one) it assumes about 0.1% of the
    /// messages, so a rare word read all million ids (1.7 s) instead of ten GIN entries; without that, a common word
    /// read all its 200,000 matches through GIN (0.5 s) instead of the newest 250 documents. Either plan finds the
    /// same messages.
    /// </summary>
    internal static string Sql(SearchRequest request, long notBackfilledBelow, SearchPlan plan, NpgsqlParameterCollection parameters)
    {
        // The tsquery is computed once per search (an InitPlan), not once per row or per branch that tests it.
        var sql = new StringBuilder("WITH q AS MATERIALIZED (SELECT ").Append(Render(request.Query, parameters)).Append(" AS query");
        const string query = "(SELECT query FROM q)";
        var lookup = query;
        if (plan.Lookup is not null)
        {
            sql.Append(", ").Append(Alternatives(plan.Lookup, parameters)).Append(" AS lookup");
            // ts_match_vq is @@ as a plain function: a check of the documents GIN returns, not a second GIN lookup.
            lookup = $"(SELECT lookup FROM q) AND ts_match_vq(document, {query})";
        }
        sql.Append(')');
        // What limits every branch alike: the page (before) and the topics, on the columns of the given table.
        var before = request.Before is { } id ? Add(parameters, id) : null;
        var topic = request.Topic is null ? null : Add(parameters, request.Topic);
        var patterns = request.TopicPatterns is null ? null : Add(parameters, request.TopicPatterns.Select(LikePattern).ToArray());
        string Page(string table, string id = "") => before is null ? "" : $" AND {table}id{id} < {before}";
        string Within(string table, string id = "") =>
            Page(table, id)
            + (topic is null ? "" : $" AND {table}topic = {topic}")
            + (patterns is null ? "" : $" AND {table}topic LIKE ANY ({patterns})");

        var limit = Add(parameters, request.Limit);
        // The newest documents (a walk down the ids, fenced so it reads that many at most); in one topic, the topic's
        // newest (by the messages' index on topic and id).
        var newest = (topic is null
            ? $"(SELECT id, topic, document FROM search_documents WHERE true{Page("")}"
            : $"(SELECT d.id, d.topic, d.document FROM messages m JOIN search_documents d ON d.id = m.id WHERE m.topic = {topic}{Page("m.")}")
            + $" ORDER BY id DESC LIMIT {limit} * {NewestWindowPerMatch}) newest";
        if (plan.NewestFirst)
        {
            // Read first, and only until the page is full: a common word fills it there, and the GIN lookup, which
            // would read every one of its matches, is skipped (a one-time filter).
            sql.Append(", recent AS MATERIALIZED (SELECT id FROM ").Append(newest).Append(" WHERE document @@ ").Append(query).Append(Within(""))
                .Append(" LIMIT ").Append(limit).Append(')');
        }
        sql.Append(" SELECT id, topic, author, text, created_at FROM messages WHERE id IN (SELECT id FROM (SELECT id FROM ");
        if (plan.NewestFirst)
        {
            sql.Append("recent UNION ALL SELECT id FROM ");
        }
        // The index is read as a set (OFFSET 0 keeps the ORDER BY below from turning it into a walk down the ids);
        // its page is "id + 0 <", a check of the rows GIN returns: as "id <", the generic plan intersected ten GIN
        // entries with half a million ids of the primary key (23 ms).
        sql.Append("(SELECT id FROM search_documents WHERE document @@ ").Append(lookup).Append(Within("", " + 0"));
        if (plan.NewestFirst)
        {
            // Only below the newest documents, all of which were read when the page is not full: "id + 0" is a
            // bound for the rows the index returns, never a range of the primary key to read.
            sql.Append(" AND (SELECT count(*) FROM recent) < ").Append(limit).Append(" AND id + 0 < (SELECT coalesce(min(id), 0) FROM ").Append(newest).Append(')');
        }
        sql.Append(" OFFSET 0) indexed");
        // The queue is joined message by message (a fenced LATERAL): its statistics are often stale (it empties and
        // fills all the time), and a plan that read a topic's messages to fold each would cost far more.
        sql.Append(" UNION ALL SELECT m.id FROM search_pending p CROSS JOIN LATERAL (SELECT id, topic, author, text FROM messages WHERE id = p.id OFFSET 0) m")
            .Append(" WHERE message_search_document(m.author, m.text) @@ ").Append(query).Append(Within("m."));
        if (notBackfilledBelow > 0)
        {
            // Within one snapshot a message is in the index or still to backfill, never both: the bound read
            // before this statement may be behind the backfill, not ahead of it.
            sql.Append(" UNION ALL SELECT m.id FROM messages m WHERE m.id < ").Append(Add(parameters, notBackfilledBelow))
                .Append(" AND NOT EXISTS (SELECT 1 FROM search_documents d WHERE d.id = m.id)")
                .Append(" AND message_search_document(m.author, m.text) @@ ").Append(query).Append(Within("m."));
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
