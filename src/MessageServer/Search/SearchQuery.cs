using System.Globalization;
using System.Text;

namespace MessageServer.Search;

/// <summary>
/// One word or quoted phrase of a query: its tokens (runs of letters, marks and digits, as typed) must stand next to
/// each other in a message; with <see cref="Prefix"/> the last one only has to begin that way. A typed word that
/// holds punctuation ("web-1") is a phrase of its parts, just as the engines split it in the messages.
/// </summary>
public sealed record SearchTerm(IReadOnlyList<string> Tokens, bool Prefix)
{
    /// <summary>The tokens separated by single spaces: the only text of the query an engine ever receives.</summary>
    public string Text => string.Join(' ', Tokens);
}

/// <summary>
/// A parsed query: a message matches when, for every group of <see cref="AllOf"/>, it contains at least one of the
/// group's terms (a group of several came from OR), and contains none of <see cref="NoneOf"/>.
/// </summary>
public sealed record SearchQuery(IReadOnlyList<IReadOnlyList<SearchTerm>> AllOf, IReadOnlyList<SearchTerm> NoneOf)
{
    public const int MaxLength = 256;

    /// <summary>
    /// Parses the syntax of a web search box, leniently: words (all must match), "a quoted phrase", -word or
    /// -"phrase" to exclude, OR between two terms (it binds tighter than the implicit AND), word* for a prefix.
    /// An unbalanced quote runs to the end; a lone '-', a dangling OR, AND and bare punctuation are ignored.
    /// Returns the error to answer (naming q) when nothing is left to look for.
    /// </summary>
    public static (SearchQuery? Query, string? Error) Parse(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return (null, $"q is required: 1 to {MaxLength} characters of words to look for.");
        }
        if (text.Length > MaxLength)
        {
            return (null, $"q must be at most {MaxLength} characters, got {text.Length}.");
        }
        var allOf = new List<List<SearchTerm>>();
        var noneOf = new List<SearchTerm>();
        var orPending = false;
        var previousWasWanted = false;
        foreach (var (item, excluded) in Items(text))
        {
            if (item is null)
            {
                orPending = previousWasWanted;
                continue;
            }
            if (excluded)
            {
                noneOf.Add(item);
                previousWasWanted = orPending = false;
                continue;
            }
            if (orPending)
            {
                allOf[^1].Add(item);
            }
            else
            {
                allOf.Add([item]);
            }
            previousWasWanted = true;
            orPending = false;
        }
        if (allOf.Count == 0)
        {
            return (null, noneOf.Count == 0
                ? "q holds no word to look for: give at least one word of letters or digits."
                : "q needs at least one word to look for: -word only excludes messages from the matches.");
        }
        return (new SearchQuery(Distinct(allOf), Distinct(noneOf)), null);
    }

    // A term said twice means nothing more, but each copy would cost the engines a lookup of its own (85 copies of a
    // prefix like `w*` fit in 256 characters): the query keeps one of each term, group and exclusion. Case never
    // tells two terms apart in either engine.
    private static List<SearchTerm> Distinct(IEnumerable<SearchTerm> terms) =>
        terms.DistinctBy(Key).ToList();

    private static List<IReadOnlyList<SearchTerm>> Distinct(IEnumerable<List<SearchTerm>> groups) =>
        groups.Select(group => (IReadOnlyList<SearchTerm>)Distinct(group)).DistinctBy(group => string.Join('\n', group.Select(Key).Order(StringComparer.Ordinal))).ToList();

    private static string Key(SearchTerm term) => (term.Prefix ? "*" : "=") + term.Text.ToLowerInvariant();

    /// <summary>The terms and exclusions in order; an OR between terms comes as a null term.</summary>
    private static IEnumerable<(SearchTerm? Term, bool Excluded)> Items(string text)
    {
        var position = 0;
        while (position < text.Length)
        {
            if (char.IsWhiteSpace(text[position]))
            {
                position++;
                continue;
            }
            var excluded = false;
            while (position < text.Length && text[position] == '-')
            {
                excluded = true;
                position++;
            }
            if (position == text.Length || char.IsWhiteSpace(text[position]))
            {
                continue; // a lone '-'
            }
            string raw;
            bool quoted = text[position] == '"';
            if (quoted)
            {
                var end = text.IndexOf('"', position + 1);
                end = end < 0 ? text.Length : end;
                raw = text[(position + 1)..end];
                position = Math.Min(end + 1, text.Length);
            }
            else
            {
                var end = position;
                while (end < text.Length && !char.IsWhiteSpace(text[end]) && text[end] != '"')
                {
                    end++;
                }
                raw = text[position..end];
                position = end;
            }
            var prefix = quoted ? position < text.Length && text[position] == '*' : raw.EndsWith('*');
            if (quoted && prefix)
            {
                position++;
            }
            if (!quoted && !excluded && raw == "OR")
            {
                yield return (null, false);
                continue;
            }
            if (!quoted && raw == "AND")
            {
                continue;
            }
            var tokens = Tokens(raw);
            if (tokens.Count > 0)
            {
                yield return (new SearchTerm(tokens, prefix), excluded);
            }
        }
    }

    /// <summary>
    /// Splits text into runs of letters, combining marks and digits (any script); everything else separates. The
    /// engines tokenize the same runs again with their own rules, so this only has to keep punctuation out.
    /// </summary>
    public static List<string> Tokens(string text)
    {
        var tokens = new List<string>();
        var current = new StringBuilder();
        foreach (var rune in text.EnumerateRunes())
        {
            if (IsTokenCharacter(rune))
            {
                current.Append(rune.ToString());
            }
            else if (current.Length > 0)
            {
                tokens.Add(current.ToString());
                current.Clear();
            }
        }
        if (current.Length > 0)
        {
            tokens.Add(current.ToString());
        }
        return tokens;
    }

    private static bool IsTokenCharacter(Rune rune) => Rune.GetUnicodeCategory(rune) switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter
            or UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark
            or UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => true,
        _ => false,
    };
}
