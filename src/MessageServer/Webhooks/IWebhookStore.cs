namespace MessageServer.Webhooks;

/// <summary>
/// Where webhooks and their deliveries live: the same database as the messages (PostgreSQL or SQLite), so a
/// webhook's backlog is the topic's messages above its cursor and survives anything the process does.
/// </summary>
public interface IWebhookStore
{
    /// <summary>Creates a webhook whose cursor is the topic's newest message: it gets what is published from now on.</summary>
    Task<Webhook> CreateAsync(string topic, string url, string secret, CancellationToken cancellationToken);

    Task<IReadOnlyList<Webhook>> ListAsync(string topic, CancellationToken cancellationToken);

    Task<Webhook?> GetAsync(long id, CancellationToken cancellationToken);

    /// <summary>Deletes the webhook and its deliveries.</summary>
    Task<bool> DeleteAsync(long id, CancellationToken cancellationToken);

    /// <summary>
    /// Deliveries in one state (or all), at most <paramref name="limit"/>: pending ones in the order they will be
    /// sent (messages not attempted yet included), the others newest first.
    /// </summary>
    Task<IReadOnlyList<Delivery>> DeliveriesAsync(long webhookId, string? state, int limit, CancellationToken cancellationToken);

    /// <summary>Queues the dead-lettered deliveries again, each with a fresh retry schedule, and re-enables a disabled webhook.</summary>
    Task<int> RetryFailedAsync(long webhookId, CancellationToken cancellationToken);

    /// <summary>
    /// Leases up to <paramref name="limit"/> active webhooks with work due to <paramref name="instance"/> for
    /// <paramref name="lease"/>; webhooks leased by another instance that has not let go are skipped.
    /// </summary>
    Task<IReadOnlyList<Webhook>> ClaimDueAsync(string instance, int limit, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends the lease; false when it is no longer this instance's (it expired and another took it).</summary>
    Task<bool> RenewLeaseAsync(long webhookId, string instance, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Gives the lease up and prunes the webhook's delivered rows to the newest <paramref name="keepDelivered"/>.</summary>
    Task ReleaseAsync(long webhookId, string instance, int keepDelivered, CancellationToken cancellationToken);

    /// <summary>
    /// What the webhook sends next, in order: pending deliveries (retries, and dead letters queued again) first,
    /// else the topic's messages above the cursor. At most <paramref name="limit"/>.
    /// </summary>
    Task<IReadOnlyList<DueDelivery>> NextAsync(long webhookId, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// Records an attempt's outcome. Outcomes (and the cursor) may be written without waiting for the disk: if a
    /// database crash loses the last few, those messages are sent again, which at-least-once delivery allows.
    /// Leases are always written durably, so a lease is never shorter after a crash than its holder believes.
    /// </summary>
    Task RecordAsync(long webhookId, AttemptRecord attempt, CancellationToken cancellationToken);

    /// <summary>A message deleted before it was sent: its delivery is forgotten and the cursor moves past it.</summary>
    Task SkipAsync(long webhookId, long messageId, CancellationToken cancellationToken);

    Task<PendingSummary> PendingAsync(CancellationToken cancellationToken);

    /// <summary>The topics that have an active webhook.</summary>
    Task<IReadOnlyList<string>> ActiveTopicsAsync(CancellationToken cancellationToken);
}
