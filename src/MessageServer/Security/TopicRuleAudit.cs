using System.Text.Json;
using MessageServer.Messages;
using MessageServer.Storage;

namespace MessageServer.Security;

/// <summary>
/// Rows stored before the topic rule ended at the last character (a topic "team-a\n" passed '$') break it now:
/// no path can name such a topic, so it is reported at start-up, with what to do, rather than changed behind the
/// operator's back. Token patterns are reported likewise.
/// </summary>
public static class TopicRuleAudit
{
    private const int MaxListed = 20;

    public static async Task ReportAsync(IMessageStore messages, ITokenStore tokens, ILogger logger, CancellationToken cancellationToken)
    {
        var badTopics = (await messages.ListTopicsAsync(cancellationToken)).Where(topic => !InputRules.IsTopic(topic.Name)).ToList();
        if (badTopics.Count > 0)
        {
            logger.LogWarning(
                "{Count} stored topic(s) break the topic rule (1 to 64 of A-Z, a-z, 0-9, '_', '-'; nothing else): {Topics}. " +
                "Their messages can still be read and deleted by id; remove them with DELETE FROM messages WHERE topic = '...'",
                badTopics.Count, Describe(badTopics.Select(t => $"{Quote(t.Name)} ({t.MessageCount} messages)")));
        }
        var badTokens = (await tokens.ListTokensAsync(cancellationToken))
            .Where(token => token.RevokedAt is null && !(IsValid(token.ReadPatterns) && IsValid(token.WritePatterns)))
            .ToList();
        if (badTokens.Count > 0)
        {
            logger.LogWarning(
                "{Count} active token(s) have topic patterns that break the topic rule: {Tokens}. Revoke them and create new ones with valid patterns",
                badTokens.Count, Describe(badTokens.Select(t => $"{t.Name} (read {Quote(t.ReadPatterns)}, write {Quote(t.WritePatterns)})")));
        }
    }

    private static bool IsValid(string patterns) => patterns.Length == 0 || TopicPatterns.Check(patterns) is null;

    private static string Describe(IEnumerable<string> items)
    {
        var list = items.ToList();
        return string.Join(", ", list.Take(MaxListed)) + (list.Count > MaxListed ? $" and {list.Count - MaxListed} more" : "");
    }

    // JSON quoting shows a newline as \n and keeps the log line one line.
    private static string Quote(string value) => JsonSerializer.Serialize(value);
}
