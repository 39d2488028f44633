using Prometheus;

namespace MessageServer.Webhooks;

/// <summary>Webhook delivery metrics. Labelled by outcome only: a webhook or topic label would grow without bound.</summary>
public static class WebhookMetrics
{
    private static readonly ExemplarBehavior NoExemplars = ExemplarBehavior.NoExemplars();

    public const string Delivered = "delivered";
    public const string Retried = "retried";
    public const string DeadLettered = "dead_lettered";
    public const string Disabled = "disabled";

    public static readonly Counter Deliveries = Metrics.CreateCounter(
        "message_server_webhook_deliveries_total",
        "Webhook delivery attempts by outcome: delivered (2xx), retried (failed, tried again later), dead_lettered (failed for the last time), disabled (410 Gone).",
        new CounterConfiguration { LabelNames = ["outcome"], ExemplarBehavior = NoExemplars });

    public static readonly Gauge Pending = Metrics.CreateGauge(
        "message_server_webhook_pending_deliveries", "Messages that active webhooks have still to deliver (all instances; refreshed every few seconds).");

    public static readonly Gauge OldestPendingAge = Metrics.CreateGauge(
        "message_server_webhook_oldest_pending_age_seconds", "How long the oldest message still to be delivered by a webhook has waited since it was published; 0 when none.");
}
