using System.IO.Enumeration;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MessageServer.Security;

/// <summary>A token as listed: its rights as comma-separated topic patterns ("alerts*,ops"), never the secret.</summary>
public sealed record AccessToken(string Name, string ReadPatterns, string WritePatterns, DateTime CreatedAt, DateTime? RevokedAt);

/// <summary>What a request presents is checked against these: the SHA-256 of each active token and its rights.</summary>
public sealed record ActiveToken(string Name, byte[] Hash, TopicPatterns Read, TopicPatterns Write)
{
    /// <summary>A token as both stores keep it: hex hash and comma-separated patterns.</summary>
    public static ActiveToken FromStored(string name, string hashHex, string readPatterns, string writePatterns) =>
        new(name, Convert.FromHexString(hashHex), new TopicPatterns(readPatterns), new TopicPatterns(writePatterns));
}

/// <summary>Where tokens are kept; both stores implement it next to their message SQL.</summary>
public interface ITokenStore
{
    /// <summary>False when a token (active or revoked) already has that name.</summary>
    Task<bool> CreateTokenAsync(string name, string hash, string readPatterns, string writePatterns, CancellationToken cancellationToken);

    Task<IReadOnlyList<AccessToken>> ListTokensAsync(CancellationToken cancellationToken);

    /// <summary>False when no active token has that name.</summary>
    Task<bool> RevokeTokenAsync(string name, CancellationToken cancellationToken);

    Task<IReadOnlyList<ActiveToken>> ActiveTokensAsync(CancellationToken cancellationToken);
}

/// <summary>Topic patterns where * matches any run of characters, e.g. "alerts*" or "ops,deploy-*".</summary>
public sealed partial class TopicPatterns
{
    public static readonly TopicPatterns All = new("*");
    public static readonly TopicPatterns Nothing = new("");

    private readonly string[] parts;

    public TopicPatterns(string patterns)
    {
        Text = patterns;
        parts = patterns.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    public string Text { get; }

    /// <summary>The patterns one by one, for a store that filters topics itself (search).</summary>
    public IReadOnlyList<string> Parts => parts;

    /// <summary>True when one pattern is '*' alone: every topic, with no need to filter.</summary>
    public bool MatchesEveryTopic => parts.Contains("*");

    /// <summary>
    /// The runtime's own wildcard matcher: '*' is the only wildcard a pattern can hold (see <see cref="Check"/>),
    /// and unlike a regular expression it needs neither compiling nor a time limit.
    /// </summary>
    public bool Matches(string topic)
    {
        foreach (var part in parts)
        {
            if (FileSystemName.MatchesSimpleExpression(part, topic, ignoreCase: false))
            {
                return true;
            }
        }
        return false;
    }

    // The topic rule plus '*'; \A and \z so that nothing (not even a final newline) follows.
    [GeneratedRegex(@"\A[A-Za-z0-9_*-]{1,64}\z")]
    private static partial Regex PatternSyntax();

    /// <summary>A checked list as it is stored: each pattern without the spaces around it, e.g. "alerts*,ops".</summary>
    public static string Canonical(string patterns) =>
        string.Join(',', patterns.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    /// <summary>Checks a comma-separated list given on the command line; returns an error or null.</summary>
    public static string? Check(string patterns) =>
        patterns.Split(',', StringSplitOptions.TrimEntries).FirstOrDefault(p => !PatternSyntax().IsMatch(p)) is { } bad
            ? $"'{bad}' is not a topic pattern: use 1 to 64 of A-Z, a-z, 0-9, '_', '-' and '*' (any run of characters)"
            : null;
}

public static class TokenSecrets
{
    public const string Prefix = "mst_";

    /// <summary>256 random bits, URL-safe, with a prefix that secret scanners and people can recognise.</summary>
    public static string NewToken() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
        .TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static byte[] Hash(string token) => SHA256.HashData(Encoding.UTF8.GetBytes(token));

    public static string HashHex(string token) => Convert.ToHexStringLower(Hash(token));
}
