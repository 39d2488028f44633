using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace MessageServer.Messages;

/// <summary>
/// Idempotent publishes: the same Idempotency-Key with the same request within 24 hours returns the original
/// message and stores nothing; the same key with another request is a conflict (422). Both stores decide with
/// <see cref="Plan"/>, inside the transaction that stores the batch (and, on PostgreSQL, under a lock per key).
/// Keys belong to a credential: the stores see "scope key" (e.g. "token:ci order-42"), so equal keys sent with
/// different tokens, or anonymously from different addresses, are different keys.
/// </summary>
public static partial class Idempotency
{
    public const string Header = "Idempotency-Key";
    public const int MaxKeyLength = 128;
    public static readonly TimeSpan Window = TimeSpan.FromHours(24);

    [GeneratedRegex("^[\\x21-\\x7E]{1,128}$")]
    private static partial Regex KeySyntax();

    /// <summary>Reads the header: null when absent, else the key within <paramref name="scope"/> or an error naming the header.</summary>
    public static (IdempotencyKey? Key, string? Error) Read(HttpRequest request, string scope, string topic, string author, string text)
    {
        if (!request.Headers.TryGetValue(Header, out var values))
        {
            return (null, null);
        }
        var key = values.ToString();
        if (values.Count != 1 || !KeySyntax().IsMatch(key))
        {
            return (null, $"{Header} must be one value of 1 to {MaxKeyLength} visible ASCII characters (e.g. a UUID).");
        }
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{topic}\0{author}\0{text}")));
        // Scopes hold no space and keys are visible ASCII, so "scope key" is unambiguous.
        return (new IdempotencyKey($"{scope} {key}", hash), null);
    }

    /// <summary>The distinct keys a batch carries, for the store to look up and lock.</summary>
    public static string[] KeysOf(IReadOnlyList<NewMessage> batch) =>
        batch.Where(m => m.Idempotency is not null).Select(m => m.Idempotency!.Key).Distinct(StringComparer.Ordinal).ToArray();

    public enum Kind
    {
        New,
        ReplayCommitted,
        ReplayInBatch,
        Conflict,
    }

    /// <summary>What to do with one item of a batch; <see cref="Target"/> is a committed message's id or a batch index.</summary>
    public readonly record struct Decision(Kind Kind, long Target);

    /// <summary>
    /// Decides each item of a batch given the keys earlier transactions committed (key → request hash, message id),
    /// including repeats of one key within the batch itself.
    /// </summary>
    public static Decision[] Plan(IReadOnlyList<NewMessage> batch, IReadOnlyDictionary<string, (string RequestHash, long MessageId)> stored)
    {
        var decisions = new Decision[batch.Count];
        var firstInBatch = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < batch.Count; i++)
        {
            if (batch[i].Idempotency is not { } key)
            {
                decisions[i] = new Decision(Kind.New, 0);
            }
            else if (stored.TryGetValue(key.Key, out var earlier))
            {
                decisions[i] = earlier.RequestHash == key.RequestHash ? new Decision(Kind.ReplayCommitted, earlier.MessageId) : new Decision(Kind.Conflict, 0);
            }
            else if (firstInBatch.TryGetValue(key.Key, out var index))
            {
                decisions[i] = batch[index].Idempotency!.RequestHash == key.RequestHash ? new Decision(Kind.ReplayInBatch, index) : new Decision(Kind.Conflict, 0);
            }
            else
            {
                firstInBatch[key.Key] = i;
                decisions[i] = new Decision(Kind.New, 0);
            }
        }
        return decisions;
    }

    /// <summary>Puts a batch's outcomes together from the new messages (in order) and the replayed ones by id.</summary>
    public static PublishOutcome[] Assemble(Decision[] decisions, IReadOnlyList<Message> created, IReadOnlyDictionary<long, Message> replayed)
    {
        var results = new PublishOutcome[decisions.Length];
        var next = 0;
        for (var i = 0; i < decisions.Length; i++)
        {
            results[i] = decisions[i].Kind switch
            {
                Kind.New => new PublishOutcome.Appended(created[next++]),
                Kind.ReplayCommitted => new PublishOutcome.Replayed(replayed[decisions[i].Target]),
                // The first use of a key in the batch is always a new message.
                Kind.ReplayInBatch => new PublishOutcome.Replayed(((PublishOutcome.Appended)results[(int)decisions[i].Target]).Message),
                _ => PublishOutcome.KeyConflict.Instance,
            };
        }
        return results;
    }
}
