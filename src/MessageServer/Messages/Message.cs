using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace MessageServer.Messages;

/// <summary>A stored message. Ids come from the database and grow with publish order.</summary>
public sealed record Message(
    long Id,
    string Topic,
    string Author,
    string Text,
    [property: JsonConverter(typeof(UtcMicrosecondsConverter))] DateTime CreatedAt);

/// <summary>A message that was deleted (by a client or by retention), as the change feed reports it.</summary>
public sealed record DeletedMessage(string Topic, long Id);

/// <summary>A message as a client submitted it, already checked against the input rules.</summary>
public sealed record NewMessage(string Topic, string Author, string Text, IdempotencyKey? Idempotency = null);

/// <summary>An Idempotency-Key (prefixed with its credential's scope) and a hash of the request it came with.</summary>
public sealed record IdempotencyKey(string Key, string RequestHash);

/// <summary>The outcome of one publish, once its batch has committed.</summary>
public abstract record PublishOutcome
{
    private PublishOutcome()
    {
    }

    /// <summary>A new message, committed by this batch.</summary>
    public sealed record Appended(Message Message) : PublishOutcome;

    /// <summary>A repeat of an earlier publish with the same Idempotency-Key: its original message; nothing new was stored.</summary>
    public sealed record Replayed(Message Message) : PublishOutcome;

    /// <summary>The Idempotency-Key was used for a different request; nothing was stored.</summary>
    public sealed record KeyConflict : PublishOutcome
    {
        public static readonly KeyConflict Instance = new();
    }
}

/// <summary>The JSON body of a publish (documentation of the contract; the reader checks each field itself).</summary>
public sealed record PublishRequest(string Text, string? Author);

public sealed record MessageList(IReadOnlyList<Message> Messages);

public sealed record TopicSummary(
    string Name,
    long MessageCount,
    [property: JsonConverter(typeof(UtcMicrosecondsConverter))] DateTime LastMessageAt);

public sealed record TopicList(IReadOnlyList<TopicSummary> Topics);

/// <summary>
/// Writes times as ISO-8601 UTC with exactly six fractional digits (what PostgreSQL stores), so every
/// client sees the same fixed-width form, e.g. 2026-11-25T19:00:00.123456Z.
/// </summary>
public sealed class UtcMicrosecondsConverter : JsonConverter<DateTime>
{
    public const string Format = "yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'";

    public override DateTime Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        DateTime.Parse(reader.GetString()!, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

    public override void Write(Utf8JsonWriter writer, DateTime value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToUniversalTime().ToString(Format, CultureInfo.InvariantCulture));
}

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(Message))]
[JsonSerializable(typeof(MessageList))]
[JsonSerializable(typeof(TopicList))]
public sealed partial class MessageJsonContext : JsonSerializerContext;
