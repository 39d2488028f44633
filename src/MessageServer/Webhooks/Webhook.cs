using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using MessageServer.Messages;

namespace MessageServer.Webhooks;

/// <summary>A webhook as stored: every message of <see cref="Topic"/> published after it was created goes to <see cref="Url"/>.</summary>
public sealed record Webhook(long Id, string Topic, string Url, string Secret, string State, DateTime CreatedAt)
{
    public const string Active = "active";
    public const string Disabled = "disabled";
}

/// <summary>The states of one message's delivery to one webhook.</summary>
public static class DeliveryStates
{
    public const string Pending = "pending";
    public const string Failed = "failed";
    public const string Delivered = "delivered";

    public static bool IsKnown(string state) => state is Pending or Failed or Delivered;
}

/// <summary>One message's delivery to one webhook, as stored (or, for a message not attempted yet, as implied by the cursor).</summary>
public sealed record Delivery(long MessageId, string State, int Attempts, int? LastStatus, string? LastError, DateTime? NextAttemptAt, DateTime? DeliveredAt);

/// <summary>
/// What the worker sends next: a message (null when it was deleted meanwhile), how often it was tried, and whether
/// its next attempt is due (by the database's clock, the one every instance shares).
/// </summary>
public sealed record DueDelivery(long MessageId, Message? Message, int Attempts, bool Due);

/// <summary>
/// The outcome of one attempt: the delivery's new <paramref name="State"/>; the webhook's cursor moves past the
/// message unless it stays pending. <paramref name="RetryIn"/> only with pending; <paramref name="Disable"/> on 410.
/// </summary>
public sealed record AttemptRecord(long MessageId, string State, int? Status, string? Error, TimeSpan? RetryIn, bool Disable = false);

/// <summary>Messages that active webhooks still have to send, and how long the oldest of them has waited.</summary>
public sealed record PendingSummary(long Count, double OldestAgeSeconds);

/// <summary>The body of a webhook creation.</summary>
public sealed record CreateWebhookRequest(string Url, string? Secret);

/// <summary>A webhook as the API shows it; the secret only in the answer to its creation.</summary>
public sealed record WebhookView(
    long Id,
    string Topic,
    string Url,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Secret,
    [property: JsonConverter(typeof(UtcMicrosecondsConverter))] DateTime CreatedAt,
    string State)
{
    public static WebhookView Of(Webhook webhook, bool withSecret = false) =>
        new(webhook.Id, webhook.Topic, webhook.Url, withSecret ? webhook.Secret : null, webhook.CreatedAt, webhook.State);
}

public sealed record WebhookList(IReadOnlyList<WebhookView> Webhooks);

/// <summary>A delivery as the API shows it; times as ISO-8601 UTC with microseconds, or null.</summary>
public sealed record DeliveryView(long MessageId, string State, int Attempts, int? LastStatus, string? LastError, string? NextAttemptAt, string? DeliveredAt)
{
    public static DeliveryView Of(Delivery delivery) => new(
        delivery.MessageId, delivery.State, delivery.Attempts, delivery.LastStatus, delivery.LastError, Format(delivery.NextAttemptAt), Format(delivery.DeliveredAt));

    private static string? Format(DateTime? time) =>
        time?.ToUniversalTime().ToString(UtcMicrosecondsConverter.Format, CultureInfo.InvariantCulture);
}

public sealed record DeliveryList(IReadOnlyList<DeliveryView> Deliveries);

public sealed record RetryAccepted(int Requeued);

[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
[JsonSerializable(typeof(CreateWebhookRequest))]
[JsonSerializable(typeof(WebhookView))]
[JsonSerializable(typeof(WebhookList))]
[JsonSerializable(typeof(DeliveryList))]
[JsonSerializable(typeof(RetryAccepted))]
public sealed partial class WebhookJsonContext : JsonSerializerContext;
