using Prometheus;

namespace MessageServer.Operations;

/// <summary>
/// The server's own Prometheus metrics. No label carries a topic: topics are unbounded and would make the
/// metric cardinality grow with them.
/// </summary>
public static class ServerMetrics
{
    private static int exportsConfigured;

    /// <summary>
    /// From the runtime's System.Diagnostics.Metrics, export the connection pool (Npgsql) and runtime meters
    /// only; the rest is internal noise (e.g. QUIC counters of a server that speaks no QUIC).
    /// </summary>
    public static void ConfigureExports()
    {
        if (Interlocked.Exchange(ref exportsConfigured, 1) == 0)
        {
            Metrics.ConfigureMeterAdapter(adapter => adapter.InstrumentFilterPredicate =
                instrument => instrument.Meter.Name is "Npgsql" or "System.Runtime");
        }
    }

    public static readonly Counter MessagesPublished = Metrics.CreateCounter(
        "message_server_messages_published_total", "Messages stored and acknowledged.");

    public static readonly Histogram PublishBatchSize = Metrics.CreateHistogram(
        "message_server_publish_batch_size", "Messages stored per group-commit transaction.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10) });

    public static readonly Gauge StreamSubscribers = Metrics.CreateGauge(
        "message_server_stream_subscribers", "Open live streams on this instance.");

    public static readonly Counter DatabaseErrors = Metrics.CreateCounter(
        "message_server_database_errors_total", "Database operations that failed, by where they failed.",
        new CounterConfiguration { LabelNames = ["operation"] });

    public static readonly Counter RetentionDeleted = Metrics.CreateCounter(
        "message_server_retention_deleted_total", "Messages removed by the retention job.");
}
