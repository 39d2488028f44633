using System.Text;
using Npgsql;

namespace MessageServer.Search;

/// <summary>
/// How common the index's words are, as PostgreSQL's own statistics of search_documents.document say (the most
/// common words and the share of documents holding each, kept by ANALYZE and autovacuum), read again every minute
/// and right after the indexer analyses a freshly built index. <see cref="PostgresMessageSearch"/> picks its plan by
/// them; they never change what a search finds.
/// </summary>
public sealed class PostgresWordFrequencies(NpgsqlDataSource dataSource)
{
    private static readonly long RefreshMilliseconds = (long)TimeSpan.FromMinutes(1).TotalMilliseconds;

    private const string StatisticsSql =
        """
        SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats
        WHERE schemaname = current_schema() AND tablename = 'search_documents' AND attname = 'document'
        """;

    private WordFrequencies current = WordFrequencies.None;
    private long refreshDue;
    private int refreshing;

    /// <summary>Makes the next search read the statistics again (they were just rebuilt).</summary>
    public void Invalidate() => Volatile.Write(ref refreshDue, 0);

    /// <summary>The frequencies; one caller at a time reads newer ones when due, the others use those at hand.</summary>
    public async ValueTask<WordFrequencies> CurrentAsync(CancellationToken cancellationToken)
    {
        if (Environment.TickCount64 < Volatile.Read(ref refreshDue) || Interlocked.Exchange(ref refreshing, 1) == 1)
        {
            return current;
        }
        try
        {
            Volatile.Write(ref refreshDue, Environment.TickCount64 + RefreshMilliseconds);
            current = await ReadAsync(cancellationToken);
            return current;
        }
        catch
        {
            Invalidate();
            throw;
        }
        finally
        {
            Volatile.Write(ref refreshing, 0);
        }
    }

    private async Task<WordFrequencies> ReadAsync(CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(StatisticsSql);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken) || reader.IsDBNull(0))
        {
            return WordFrequencies.None;
        }
        var words = reader.GetFieldValue<string[]>(0);
        // One share per word, then PostgreSQL's three summary figures (least, greatest, share of empty documents).
        var shares = reader.GetFieldValue<float[]>(1);
        return new WordFrequencies(words.Zip(shares).ToDictionary(pair => pair.First, pair => (double)pair.Second, StringComparer.Ordinal));
    }
}

/// <summary>
/// The most common words of the index with the share of documents holding each: enough to bound how many documents a
/// query can match, which is what decides whether the newest documents or the GIN index are read first.
/// </summary>
public sealed class WordFrequencies(IReadOnlyDictionary<string, double> shares)
{
    /// <summary>No statistics (the index was never analysed): nothing is known about any query.</summary>
    public static readonly WordFrequencies None = new(new Dictionary<string, double>());

    // A word missing from the list is rarer than every word on it.
    private readonly double unlisted = shares.Count == 0 ? 1 : shares.Values.Min();

    /// <summary>
    /// The group of the query that the fewest documents can match, and at most what share of the documents that is
    /// (null: unknown). All groups must match, so the rarest one bounds the query; a group of alternatives matches at
    /// most their sum; a term at most its rarest whole word. A prefix alone is unknown: the statistics list whole
    /// words only, and a prefix may stand for thousands of rare ones. Exclusions only take matches away.
    /// </summary>
    public (int Group, double Share)? Rarest(SearchQuery query)
    {
        if (shares.Count == 0)
        {
            return null;
        }
        (int Group, double Share)? rarest = null;
        for (var group = 0; group < query.AllOf.Count; group++)
        {
            var alternatives = query.AllOf[group].Select(TermShare).ToList();
            if (alternatives.Any(share => share is null))
            {
                continue;
            }
            var share = Math.Min(1, alternatives.Sum(share => share!.Value));
            if (rarest is null || share < rarest.Value.Share)
            {
                rarest = (group, share);
            }
        }
        return rarest;
    }

    /// <summary>
    /// The rarest whole word of a term that <see cref="Rarest"/> could rate, as a term of its own: GIN finds the
    /// documents of one word by its entry alone, while a phrase also reads the entries of its other, maybe very
    /// common, words ("note w17": every document's "note", 100 ms).
    /// </summary>
    public SearchTerm RarestWord(SearchTerm term) =>
        new([WholeWords(term).Where(word => Share(word) is not null).MinBy(Share)!], Prefix: false);

    private double? TermShare(SearchTerm term) => WholeWords(term).Min(Share);

    private static IEnumerable<string> WholeWords(SearchTerm term) => term.Prefix ? term.Tokens.Take(term.Tokens.Count - 1) : term.Tokens;

    /// <summary>
    /// The share of documents holding the word (null: unknown). The statistics list words as the database folds
    /// them (lower case, accents off); lower case is done here alike, while a word with letters beyond ASCII that
    /// is not listed as typed may be listed folded, common, so it is not rated.
    /// </summary>
    private double? Share(string word)
    {
        var folded = word.ToLowerInvariant();
        return shares.TryGetValue(folded, out var share) ? share : Ascii.IsValid(folded) ? unlisted : null;
    }
}
