using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace MessageServer.Messages;

/// <summary>The rules every published message and query parameter must meet; each failure names its field.</summary>
public static partial class InputRules
{
    public const int MaxTextLength = 4000;
    public const int MaxAuthorLength = 64;
    public const int MaxBodyBytes = 64 * 1024;
    public const int DefaultLimit = 50;
    public const int MaxLimit = 200;
    public const string DefaultAuthor = "anonymous";

    // Every UTF-16 unit of Unicode category Cf (format), e.g. U+202E RIGHT-TO-LEFT OVERRIDE, U+200B ZERO WIDTH SPACE.
    private static readonly SearchValues<char> FormatCharacters = SearchValues.Create(
        Enumerable.Range(0, char.MaxValue + 1).Select(c => (char)c)
            .Where(c => !char.IsSurrogate(c) && char.GetUnicodeCategory(c) == UnicodeCategory.Format).ToArray());

    // \A and \z, not ^ and $: in .NET '$' also matches before a final newline, which let "team-a\n" through.
    [GeneratedRegex(@"\A[A-Za-z0-9_-]{1,64}\z")]
    private static partial Regex TopicPattern();

    public static bool IsTopic(string topic) => TopicPattern().IsMatch(topic);

    public static string? CheckTopic(string topic) =>
        IsTopic(topic)
            ? null
            : "topic must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-', and nothing else.";

    public static string? CheckText(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return "text is required and must not be blank.";
        }
        if (text.Length > MaxTextLength)
        {
            return $"text must be at most {MaxTextLength} characters, got {text.Length}.";
        }
        return CheckStorable(text, "text");
    }

    /// <summary>Returns the author to store (trimmed, or the default when none was given) or an error.</summary>
    public static (string Author, string? Error) NormalizeAuthor(string? author)
    {
        if (author is null)
        {
            return (DefaultAuthor, null);
        }
        var trimmed = author.Trim();
        if (trimmed.Length is 0 or > MaxAuthorLength)
        {
            return (trimmed, $"author must be 1 to {MaxAuthorLength} characters after trimming, got {trimmed.Length}; leave it out to post as '{DefaultAuthor}'.");
        }
        if (trimmed.Any(char.IsControl))
        {
            return (trimmed, "author must not contain control characters.");
        }
        // Bidi overrides and zero-width characters (all Unicode format characters) make a name look like another.
        var invisible = trimmed.AsSpan().IndexOfAny(FormatCharacters);
        if (invisible >= 0)
        {
            return (trimmed, $"author must not contain invisible formatting characters such as bidi overrides or zero-width characters; found U+{(int)trimmed[invisible]:X4} at position {invisible}.");
        }
        return (trimmed, CheckStorable(trimmed, "author"));
    }

    /// <summary>
    /// PostgreSQL text cannot hold NUL, and a lone UTF-16 surrogate has no UTF-8 form: both would fail at the
    /// database, so they are refused here with a clear message, in both storage modes alike.
    /// </summary>
    private static string? CheckStorable(string value, string field)
    {
        if (value.Contains('\0', StringComparison.Ordinal))
        {
            return $"{field} must not contain NUL (U+0000) characters.";
        }
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                i++;
            }
            else if (char.IsSurrogate(value[i]))
            {
                return $"{field} contains an unpaired UTF-16 surrogate at position {i}; send valid Unicode.";
            }
        }
        return null;
    }

    /// <summary>Parses an optional whole-number query parameter in [minimum, maximum].</summary>
    public static (long? Value, string? Error) ParseQueryNumber(IQueryCollection query, string name, long minimum, long maximum)
    {
        if (!query.TryGetValue(name, out var values))
        {
            return (null, null);
        }
        if (values.Count == 1
            && long.TryParse(values[0], NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            && number >= minimum && number <= maximum)
        {
            return (number, null);
        }
        return (null, $"{name} must be one whole number from {minimum} to {maximum}, got '{values}'.");
    }

    /// <summary>
    /// The first field a JSON object has twice: parsers disagree on which of the two values wins, and a proxy or
    /// filter may have checked the other one, so a body with one is refused.
    /// </summary>
    public static string? FirstRepeatedProperty(JsonElement root)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in root.EnumerateObject())
        {
            string name;
            try
            {
                name = property.Name;
            }
            catch (InvalidOperationException)
            {
                // A name that does not decode (invalid UTF-8, an unpaired surrogate escape) is no field we read.
                continue;
            }
            if (!seen.Add(name))
            {
                return name;
            }
        }
        return null;
    }
}
