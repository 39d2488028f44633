using MessageServer.Search;
using Npgsql;

namespace MessageServer.Tests.Search;

/// <summary>The query parser and what each engine receives from it; the behaviour itself is SearchContract's.</summary>
public sealed class SearchQueryTests
{
    private static SearchQuery Parse(string text)
    {
        var (query, error) = SearchQuery.Parse(text);
        Assert.True(error is null, error);
        return query!;
    }

    private static string Describe(SearchQuery query) =>
        string.Join(" & ", query.AllOf.Select(group => string.Join(" | ", group.Select(Describe))))
        + string.Concat(query.NoneOf.Select(term => " !" + Describe(term)));

    private static string Describe(SearchTerm term) => $"[{term.Text}]{(term.Prefix ? "*" : "")}";

    [Theory]
    [InlineData("disk full", "[disk] & [full]")]
    [InlineData("a b OR c -d \"e f\"*", "[a] & [b] | [c] & [e f]* ![d]")]
    [InlineData("a OR b OR c", "[a] | [b] | [c]")]
    [InlineData("OR a OR -b OR c", "[a] & [c] ![b]")]
    [InlineData("web-1* example.com", "[web 1]* & [example com]")]
    [InlineData("\"unbalanced phrase", "[unbalanced phrase]")]
    [InlineData("a AND b or", "[a] & [b] & [or]")]
    [InlineData("--a b - -", "[b] ![a]")]
    [InlineData("東京都に行きました。 e\u0301te", "[東京都に行きました] & [e\u0301te]")]
    [InlineData("w* w* W* w -w -W", "[w]* & [w] ![w]")]
    [InlineData("a OR b b OR A a OR a", "[a] | [b] & [a]")]
    public void Parses_the_syntax_of_a_web_search_box(string text, string expected) =>
        Assert.Equal(expected, Describe(Parse(text)));

    [Fact]
    public void SQLite_receives_each_term_as_a_quoted_FTS5_string()
    {
        var match = SqliteMessageSearch.Render(Parse("a b OR c -d \"e f\"* x:y NEAR(z)"));

        Assert.Equal("((\"a\") AND (\"b\" OR \"c\") AND (\"e f\" *) AND (\"x y\") AND (\"NEAR z\")) NOT (\"d\")", match);
    }

    [Fact]
    public void PostgreSQL_receives_each_term_as_a_bound_parameter()
    {
        using var command = new NpgsqlCommand();

        var expression = PostgresMessageSearch.Render(Parse("a' b OR c:* -\"d & e\""), command.Parameters);

        Assert.Equal(
            "message_search_term($1, false) && (message_search_term($2, false) || message_search_term($3, true)) && !!message_search_term($4, false)",
            expression);
        Assert.Equal(["a", "b", "c", "d e"], command.Parameters.Select(p => (string)p.Value!));
    }

    [Theory]
    [InlineData("team-*", @"team-%")]
    [InlineData("a_b*", @"a\_b%")]
    public void Topic_patterns_become_LIKE_patterns_with_only_the_star_as_wildcard(string pattern, string like) =>
        Assert.Equal(like, PostgresMessageSearch.LikePattern(pattern));
}
