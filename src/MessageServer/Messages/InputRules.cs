using System.Globalization;
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

    [GeneratedRegex("^[A-Za-z0-9_-]{1,64}$")]
    private static partial Regex TopicPattern();

    public static string? CheckTopic(string topic) =>
        TopicPattern().IsMatch(topic)
            ? null
            : "topic must be 1 to 64 characters of A-Z, a-z, 0-9, '_' or '-'.";

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
}
