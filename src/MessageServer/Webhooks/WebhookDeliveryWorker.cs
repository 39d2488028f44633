using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using MessageServer.Configuration;
using MessageServer.Operations;
using MessageServer.Storage;

namespace MessageServer.Webhooks;

/// <summary>
/// Delivers every active webhook's messages in order, from the database: it leases the webhooks that have work
/// (at most <see cref="MaxConcurrentWebhooks"/> at once), sends their messages one at a time, records each outcome
/// with the cursor, and lets go. It looks for work when the change feed reports a message of a topic that has
/// webhooks, when a webhook it ran lets go, and every <see cref="PollInterval"/> (retries falling due, webhooks
/// created or released on other instances, leases of crashed instances running out).
/// </summary>
public sealed class WebhookDeliveryWorker(
    IWebhookStore store, WebhookSender sender, ServerSettings settings, DatabaseState state, ILogger<WebhookDeliveryWorker> logger)
    : BackgroundService
{
    public const int MaxConcurrentWebhooks = 32;

    /// <summary>
    /// How long a lease lasts. It is renewed before any attempt once <see cref="RenewAfter"/> has passed, so at least
    /// Lease − RenewAfter (15 s) remain for an exchange that takes at most 10 s: two instances never send to one
    /// webhook at the same time. An instance that dies holds its webhooks at most this long.
    /// </summary>
    public static readonly TimeSpan Lease = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan RenewAfter = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan SummaryInterval = TimeSpan.FromSeconds(5);

    // Claims are at least this far apart, so a busy topic does not turn every publish into a claim query.
    private static readonly TimeSpan ClaimSpacing = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromDays(1);

    private const int PageSize = 100;

    // A webhook is let go after this many messages, so that with several instances the work moves around.
    private const int MaxPerLease = 200;

    /// <summary>The newest delivered rows kept per webhook (for GET .../deliveries?state=delivered); older ones are pruned.</summary>
    public const int KeptDelivered = 1000;

    private readonly string instance = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";
    private readonly Channel<bool> wakeUps = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly ConcurrentDictionary<long, Task> running = new();
    private volatile HashSet<string> topicsWithWebhooks = [];
    private bool claimsFailing;

    /// <summary>Looks for work soon. Never blocks, never throws.</summary>
    public void WakeUp() => wakeUps.Writer.TryWrite(true);

    /// <summary>Whether a topic had an active webhook when last looked (every few seconds, and at once for this instance's changes).</summary>
    public bool HasWebhooks(string topic) => topicsWithWebhooks.Contains(topic);

    /// <summary>A webhook was created on this instance: its topic's messages wake the worker from now on.</summary>
    public void Watch(string topic)
    {
        topicsWithWebhooks = [.. topicsWithWebhooks, topic];
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await state.WaitUntilMigratedAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return;
        }
        var summaries = SummarizeAsync(stoppingToken);
        while (!stoppingToken.IsCancellationRequested)
        {
            await ClaimAsync(stoppingToken);
            await Task.Delay(ClaimSpacing, stoppingToken).ContinueWith(_ => { }, TaskScheduler.Default);
            using var poll = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            poll.CancelAfter(PollInterval);
            await wakeUps.Reader.WaitToReadAsync(poll.Token).AsTask().ContinueWith(_ => { }, TaskScheduler.Default);
            wakeUps.Reader.TryRead(out _);
        }
        await Task.WhenAll(running.Values);
        await summaries;
    }

    private async Task ClaimAsync(CancellationToken stoppingToken)
    {
        var free = MaxConcurrentWebhooks - running.Count;
        if (free <= 0)
        {
            return;
        }
        try
        {
            var leasedSince = Stopwatch.GetTimestamp();
            // Webhooks this instance is running are leased to it already and come back too; they are skipped.
            foreach (var webhook in await store.ClaimDueAsync(instance, free + running.Count, Lease, stoppingToken))
            {
                if (running.Count < MaxConcurrentWebhooks && !running.ContainsKey(webhook.Id))
                {
                    // Listed before it starts: a delivery that ends at once removes itself from a list it is already in.
                    var delivery = new Task<Task>(() => DeliverAsync(webhook, leasedSince, stoppingToken));
                    running[webhook.Id] = delivery.Unwrap();
                    delivery.Start(TaskScheduler.Default);
                }
            }
        }
        catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
        {
            ServerMetrics.DatabaseErrors.WithLabels("webhooks").Inc();
            // Once per outage, not once per poll.
            logger.Log(claimsFailing ? LogLevel.Debug : LogLevel.Warning,
                "Webhook worker could not look for work ({Reason}); it keeps trying every second", exception.Describe());
            claimsFailing = true;
            return;
        }
        if (claimsFailing)
        {
            claimsFailing = false;
            logger.LogInformation("Webhook worker reaches the database again");
        }
    }

    /// <summary>Sends one webhook's due messages in order until none is left, one must wait for a retry, or the lease is lost.</summary>
    private async Task DeliverAsync(Webhook webhook, long leasedSince, CancellationToken stoppingToken)
    {
        try
        {
            var sent = 0;
            var more = true;
            while (more && sent < MaxPerLease && !stoppingToken.IsCancellationRequested)
            {
                var next = await store.NextAsync(webhook.Id, PageSize, stoppingToken);
                more = next.Count > 0;
                foreach (var delivery in next)
                {
                    if (!delivery.Due)
                    {
                        more = false; // the next message waits for its retry, and every later one behind it
                        break;
                    }
                    if (delivery.Message is not { } message)
                    {
                        await store.SkipAsync(webhook.Id, delivery.MessageId, stoppingToken); // deleted before it was sent
                        continue;
                    }
                    if (Stopwatch.GetElapsedTime(leasedSince) > RenewAfter)
                    {
                        var renewing = Stopwatch.GetTimestamp();
                        if (!await store.RenewLeaseAsync(webhook.Id, instance, Lease, stoppingToken))
                        {
                            logger.LogWarning("Webhook {Webhook}: the lease ran out and another instance took over", webhook.Id);
                            return;
                        }
                        leasedSince = renewing;
                    }
                    var result = await sender.SendAsync(webhook, message, stoppingToken);
                    var attempt = Outcome(delivery, result);
                    await store.RecordAsync(webhook.Id, attempt, stoppingToken);
                    Count(webhook, delivery, attempt, result);
                    sent++;
                    if (attempt.State == DeliveryStates.Pending || attempt.Disable)
                    {
                        more = false;
                        break;
                    }
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: an attempt cut short is not recorded and is sent again (receivers deduplicate by webhook-id).
        }
        catch (Exception exception)
        {
            ServerMetrics.DatabaseErrors.WithLabels("webhooks").Inc();
            logger.LogWarning("Webhook {Webhook}: delivery stopped ({Reason}); it resumes from the database shortly", webhook.Id, exception.Describe());
        }
        finally
        {
            await ReleaseAsync(webhook);
            running.TryRemove(webhook.Id, out _);
            WakeUp(); // anything that arrived while this lease was ending is picked up now
        }
    }

    private async Task ReleaseAsync(Webhook webhook)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await store.ReleaseAsync(webhook.Id, instance, KeptDelivered, timeout.Token);
        }
        catch (Exception exception)
        {
            // The lease then simply runs out.
            logger.LogDebug("Webhook {Webhook}: could not release the lease ({Reason})", webhook.Id, exception.Describe());
        }
    }

    /// <summary>2xx delivers; 410 disables; anything else is retried on the schedule (or later, if Retry-After says so) until the last attempt dead-letters it.</summary>
    private AttemptRecord Outcome(DueDelivery delivery, SendResult result)
    {
        if (result.Succeeded)
        {
            return new AttemptRecord(delivery.MessageId, DeliveryStates.Delivered, result.Status, null, null);
        }
        if (result.Status == StatusCodes.Status410Gone)
        {
            return new AttemptRecord(delivery.MessageId, DeliveryStates.Failed, result.Status,
                $"{result.Error} (410 Gone: the webhook is disabled; POST /api/webhooks/{{id}}/retry enables it again)", null, Disable: true);
        }
        var schedule = settings.Webhooks.RetrySchedule;
        var attempts = delivery.Attempts + 1;
        if (attempts > schedule.Count)
        {
            return new AttemptRecord(delivery.MessageId, DeliveryStates.Failed, result.Status, result.Error, null);
        }
        var delay = WithJitter(schedule[attempts - 1]);
        if (result.RetryAfter is { } retryAfter && retryAfter > delay)
        {
            delay = retryAfter < MaxRetryAfter ? retryAfter : MaxRetryAfter;
        }
        return new AttemptRecord(delivery.MessageId, DeliveryStates.Pending, result.Status, result.Error, delay);
    }

    /// <summary>Up to a fifth longer at random, so receivers that failed together are not retried all at once.</summary>
    private static TimeSpan WithJitter(TimeSpan delay) => delay + delay * (Random.Shared.NextDouble() * 0.2);

    private void Count(Webhook webhook, DueDelivery delivery, AttemptRecord attempt, SendResult result)
    {
        var outcome = attempt switch
        {
            { Disable: true } => WebhookMetrics.Disabled,
            { State: DeliveryStates.Delivered } => WebhookMetrics.Delivered,
            { State: DeliveryStates.Pending } => WebhookMetrics.Retried,
            _ => WebhookMetrics.DeadLettered,
        };
        WebhookMetrics.Deliveries.WithLabels(outcome).Inc();
        if (outcome != WebhookMetrics.Delivered)
        {
            logger.LogInformation("Webhook {Webhook}, message {Message}, attempt {Attempt}: {Outcome} ({Error})",
                webhook.Id, delivery.MessageId, delivery.Attempts + 1, outcome, result.Error);
        }
    }

    /// <summary>Refreshes the pending metrics and the topics that have webhooks, every few seconds.</summary>
    private async Task SummarizeAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(SummaryInterval);
        do
        {
            try
            {
                var pending = await store.PendingAsync(stoppingToken);
                WebhookMetrics.Pending.Set(pending.Count);
                WebhookMetrics.OldestPendingAge.Set(pending.OldestAgeSeconds);
                topicsWithWebhooks = [.. await store.ActiveTopicsAsync(stoppingToken)];
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug("Webhook summary failed ({Reason})", exception.Describe());
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).AsTask().ContinueWith(tick => tick.IsCompletedSuccessfully && tick.Result, TaskScheduler.Default));
    }
}
