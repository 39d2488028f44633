// The webhook benchmark's client: a fast receiver on loopback (Kestrel, answers 200 at once) and a publisher.
//   throughput: a backlog of N messages is published while the receiver holds the first delivery, then released;
//               deliveries per second = N / the time the backlog took to drain.
//   latency:    M messages published at R per second; each one's time from the publish request to its arrival.
// Prints one line of key=value pairs.
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

var options = args.Select((value, index) => (value, index)).Where(p => p.index % 2 == 0 && p.index + 1 < args.Length)
    .ToDictionary(p => p.value.TrimStart('-'), p => args[p.index + 1]);
if (!options.TryGetValue("server", out var serverText))
{
    Console.Error.WriteLine("usage: WebhookBench --server URL [--backlog N] [--messages M] [--rate PER_SECOND] [--publishers P]");
    return 2;
}
int Number(string name, int fallback) => options.TryGetValue(name, out var text) ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
var backlog = Number("backlog", 5000);
var messages = Number("messages", 500);
var rate = Number("rate", 50);
var publishers = Number("publishers", 16);

var arrivals = new ConcurrentDictionary<long, long>();
var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
var receiver = builder.Build();
receiver.Run(async context =>
{
    var body = await JsonDocument.ParseAsync(context.Request.Body);
    var id = body.RootElement.GetProperty("id").GetInt64();
    if (context.Request.Path == "/gated")
    {
        await gate.Task;
    }
    arrivals.TryAdd(id, Stopwatch.GetTimestamp());
    context.Response.StatusCode = 200;
});
await receiver.StartAsync();
var receiverPort = new Uri(receiver.Urls.First()).Port;

using var client = new HttpClient { BaseAddress = new Uri(serverText), Timeout = TimeSpan.FromSeconds(30) };
var run = Guid.NewGuid().ToString("N")[..8];

// Throughput: build a backlog behind a held first delivery, then let it drain.
var throughputTopic = $"webhook-throughput-{run}";
await CreateWebhookAsync(throughputTopic, "gated");
// The backlog must be in place before the held delivery's 10 s request timeout.
var backlogIds = await PublishAsync(throughputTopic, backlog, publishers, perSecond: null);
var released = Stopwatch.GetTimestamp();
gate.SetResult();
var drained = await WaitForAsync(backlogIds, TimeSpan.FromMinutes(5));
var drainSeconds = Stopwatch.GetElapsedTime(released, drained).TotalSeconds;

// Latency: a steady rate, each message timed from its publish request to its arrival.
var latencyTopic = $"webhook-latency-{run}";
await CreateWebhookAsync(latencyTopic, "hook");
var sentAt = new ConcurrentDictionary<long, long>();
var latencyIds = await PublishAsync(latencyTopic, messages, 1, rate, sentAt);
await WaitForAsync(latencyIds, TimeSpan.FromMinutes(2));
var latencies = latencyIds.Select(id => Stopwatch.GetElapsedTime(sentAt[id], arrivals[id]).TotalMilliseconds).Order().ToList();

Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
    $"backlog={backlog} drain_s={drainSeconds:0.000} deliveries_per_s={backlog / drainSeconds:0} messages={messages} rate={rate} p50_ms={Percentile(latencies, 0.50):0.0} p99_ms={Percentile(latencies, 0.99):0.0} max_ms={latencies[^1]:0.0} in_order={InOrder(backlogIds) && InOrder(latencyIds)}"));
await receiver.StopAsync();
return 0;

async Task CreateWebhookAsync(string topic, string path)
{
    using var response = await client.PostAsJsonAsync($"/api/topics/{topic}/webhooks", new { url = $"http://127.0.0.1:{receiverPort}/{path}" });
    response.EnsureSuccessStatusCode();
}

// Publishes count messages from the given number of concurrent clients (at most perSecond in all, when given).
async Task<List<long>> PublishAsync(string topic, int count, int concurrency, int? perSecond, ConcurrentDictionary<long, long>? started = null)
{
    var ids = new ConcurrentBag<long>();
    var next = -1;
    var clock = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async _ =>
    {
        int index;
        while ((index = Interlocked.Increment(ref next)) < count)
        {
            if (perSecond is { } limit)
            {
                var due = TimeSpan.FromSeconds((double)index / limit) - clock.Elapsed;
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due);
                }
            }
            var start = Stopwatch.GetTimestamp();
            using var response = await client.PostAsJsonAsync($"/api/topics/{topic}/messages", new { text = $"benchmark message {index}", author = "bench" });
            response.EnsureSuccessStatusCode();
            var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
            started?.TryAdd(id, start);
            ids.Add(id);
        }
    }));
    return [.. ids.Order()];
}

// Waits until every id has arrived; returns the timestamp of the last arrival.
async Task<long> WaitForAsync(IEnumerable<long> ids, TimeSpan timeout)
{
    var wanted = ids.ToList();
    var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    while (!wanted.All(arrivals.ContainsKey))
    {
        if (Stopwatch.GetTimestamp() > deadline)
        {
            throw new TimeoutException($"{wanted.Count(arrivals.ContainsKey)} of {wanted.Count} deliveries arrived within {timeout}");
        }
        await Task.Delay(5);
    }
    return wanted.Max(id => arrivals[id]);
}

bool InOrder(List<long> ids) => ids.Select(id => arrivals[id]).Zip(ids.Skip(1).Select(id => arrivals[id])).All(pair => pair.First <= pair.Second);

static double Percentile(List<double> sorted, double fraction) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(fraction * sorted.Count) - 1)];
