using MessageServer.Search;

namespace MessageServer.Tests.Search;

/// <summary>How PostgreSQL's search picks its plan from the word statistics; that every plan finds the same is PostgresSearchTests'.</summary>
public sealed class SearchPlanTests
{
    // "status" in a fifth of the documents, "note" in all, "w17" in few; any word not listed is rarer still.
    private static readonly WordFrequencies Statistics = new(new Dictionary<string, double> { ["status"] = 0.2, ["note"] = 1, ["w17"] = 0.0024 });

    private static PostgresMessageSearch.SearchPlan Plan(string q, WordFrequencies? frequencies = null) =>
        PostgresMessageSearch.Plan(frequencies ?? Statistics, SearchQuery.Parse(q).Query!);

    private static string? Lookup(PostgresMessageSearch.SearchPlan plan) =>
        plan.Lookup is null ? null : string.Join(" | ", plan.Lookup.Select(term => term.Text + (term.Prefix ? "*" : "")));

    [Theory]
    [InlineData("kumquat", "kumquat")]
    [InlineData("status kumquat", "kumquat")]
    [InlineData("kumquat -status", "kumquat")]
    [InlineData("\"note w17\"", "w17")]
    [InlineData("deploy* KUMQUAT", "KUMQUAT")]
    [InlineData("\"web kumquat\"*", "web")]
    [InlineData("w17 OR kumquat", "w17 | kumquat")]
    public void A_query_with_a_rare_group_goes_to_the_index_by_its_rarest_words(string q, string lookup)
    {
        var plan = Plan(q);

        Assert.Equal((false, lookup), (plan.NewestFirst, Lookup(plan)));
    }

    [Theory]
    [InlineData("status", "status")]
    [InlineData("Status note", "Status")]
    [InlineData("status OR kumquat", "status | kumquat")]
    public void A_common_query_reads_the_newest_documents_first(string q, string lookup)
    {
        var plan = Plan(q);

        Assert.Equal((true, lookup), (plan.NewestFirst, Lookup(plan)));
    }

    [Theory]
    [InlineData("kumq*")]
    [InlineData("kumq* OR status")]
    public void A_query_the_statistics_cannot_rate_reads_the_newest_documents_first_by_the_whole_query(string q)
    {
        var plan = Plan(q);

        Assert.Equal((true, null), (plan.NewestFirst, Lookup(plan)));
    }

    [Fact]
    public void Without_statistics_every_query_reads_the_newest_documents_first()
    {
        var plan = Plan("kumquat", WordFrequencies.None);

        Assert.Equal((true, null), (plan.NewestFirst, Lookup(plan)));
    }

    [Theory]
    [InlineData("café")]
    [InlineData("привет")]
    public void A_word_the_statistics_may_list_folded_otherwise_is_not_rated(string word)
    {
        var plan = Plan(word);

        Assert.Equal((true, null), (plan.NewestFirst, Lookup(plan)));
    }
}
