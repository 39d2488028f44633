using System.Collections.Concurrent;
using Prometheus;

namespace MessageServer.Operations;

/// <summary>
/// The server's own Prometheus metrics. No label carries a topic: topics are unbounded and would make the
/// metric cardinality grow with them.
/// </summary>
public static class ServerMetrics
{
    private static int exportsConfigured;

    // Exemplars link a sample to a trace; nothing here stores traces, and reading the trace context on every
    // observation costs time on the hot paths. Declared first: the metrics below are built with it.
    private static readonly ExemplarBehavior NoExemplars = ExemplarBehavior.NoExemplars();

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

    /// <summary>
    /// Request durations by status class (2xx, 4xx, ...), method and route template: small, bounded label sets.
    /// The name and buckets are prometheus-net's own for ASP.NET Core, so its dashboards work unchanged.
    /// </summary>
    public static readonly Histogram RequestDuration = Metrics.CreateHistogram(
        "http_request_duration_seconds", "The duration of HTTP requests processed by the server.",
        new HistogramConfiguration { LabelNames = ["code", "method", "endpoint"], Buckets = Histogram.ExponentialBuckets(0.001, 2, 16), ExemplarBehavior = NoExemplars });

    // The labelled series, found again per request without building label arrays.
    private static readonly ConcurrentDictionary<(string Endpoint, string Method, int StatusClass), Histogram.Child> RequestDurations = new();

    public static void ObserveRequest(string endpoint, string method, int statusCode, TimeSpan duration)
    {
        var key = (endpoint, MethodLabel(method), statusCode / 100);
        var series = RequestDurations.GetOrAdd(key, k => RequestDuration.WithLabels($"{k.StatusClass}xx", k.Method, k.Endpoint));
        series.Observe(duration.TotalSeconds);
    }

    // Clients may send any method name; only the standard ones become label values.
    private static string MethodLabel(string method) =>
        method is "GET" or "HEAD" or "POST" or "PUT" or "PATCH" or "DELETE" or "OPTIONS" ? method : "other";

    public static readonly Counter MessagesPublished = Metrics.CreateCounter(
        "message_server_messages_published_total", "Messages stored and acknowledged.",
        new CounterConfiguration { ExemplarBehavior = NoExemplars });

    public static readonly Histogram PublishBatchSize = Metrics.CreateHistogram(
        "message_server_publish_batch_size", "Messages stored per group-commit transaction.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(1, 2, 10), ExemplarBehavior = NoExemplars });

    public static readonly Gauge StreamSubscribers = Metrics.CreateGauge(
        "message_server_stream_subscribers", "Open live streams on this instance.");

    public static readonly Counter DatabaseErrors = Metrics.CreateCounter(
        "message_server_database_errors_total", "Database operations that failed, by where they failed.",
        new CounterConfiguration { LabelNames = ["operation"], ExemplarBehavior = NoExemplars });

    public static readonly Counter ChangeConsumerErrors = Metrics.CreateCounter(
        "message_server_change_consumer_errors_total", "Changes that a consumer of the change feed failed to take (the others still got them).",
        new CounterConfiguration { ExemplarBehavior = NoExemplars });

    public static readonly Counter RetentionDeleted = Metrics.CreateCounter(
        "message_server_retention_deleted_total", "Messages removed by the retention job.",
        new CounterConfiguration { ExemplarBehavior = NoExemplars });
}
