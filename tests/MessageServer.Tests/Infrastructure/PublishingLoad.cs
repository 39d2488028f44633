using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;

namespace MessageServer.Tests.Infrastructure;

/// <summary>
/// Publishers that keep publishing to one topic until stopped or until the server goes away, recording every
/// text they sent and every message that was acknowledged with a 201.
/// </summary>
public sealed class PublishingLoad : IDisposable
{
    private readonly CancellationTokenSource stop = new();
    private readonly List<Task> workers;

    private PublishingLoad(Uri baseAddress, string topic, int workerCount)
    {
        workers = Enumerable.Range(0, workerCount).Select(worker => Task.Run(() => PublishAsync(baseAddress, topic, worker))).ToList();
    }

    public ConcurrentDictionary<string, bool> Sent { get; } = new();

    public ConcurrentDictionary<long, string> Acknowledged { get; } = new();

    /// <summary>Publishes answered with anything but 201 ("status: body"), or not answered at all.</summary>
    public ConcurrentQueue<string> Rejected { get; } = new();

    public static PublishingLoad Start(Uri baseAddress, string topic, int workers) => new(baseAddress, topic, workers);

    /// <summary>
    /// Starts a server process, publishes to the topic with 12 workers and kills the server (kill -9) once it has
    /// acknowledged <paramref name="acknowledged"/> publishes (a count, not a time: a busy machine is slower; at most
    /// 30 s); returns the stopped load with what was sent and acknowledged.
    /// </summary>
    public static async Task<PublishingLoad> KillMidStreamAsync(IDictionary<string, string?> settings, string topic, int acknowledged)
    {
        await using var server = await ServerProcess.StartAsync(settings);
        var load = Start(server.BaseAddress, topic, workers: 12);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (load.Acknowledged.Count < acknowledged && DateTime.UtcNow < deadline)
        {
            await Task.Delay(50);
        }
        await server.KillAsync();
        await load.StopAsync();
        return load;
    }

    public async Task StopAsync()
    {
        await stop.CancelAsync();
        await Task.WhenAll(workers);
    }

    public void Dispose() => stop.Dispose();

    private async Task PublishAsync(Uri baseAddress, string topic, int worker)
    {
        using var client = new HttpClient { BaseAddress = baseAddress };
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            var text = $"worker {worker} message {i} ✓";
            Sent[text] = true;
            try
            {
                using var response = await client.PostAsJsonAsync($"/api/topics/{topic}/messages", new { text });
                if (response.StatusCode == HttpStatusCode.Created)
                {
                    Acknowledged[(await response.Content.ReadFromJsonAsync<MessageDto>())!.Id] = text;
                }
                else
                {
                    Rejected.Enqueue($"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                }
            }
            catch (HttpRequestException exception)
            {
                Rejected.Enqueue($"no answer: {exception.Message}");
                return; // the server is gone: what was not acknowledged is not expected to be stored
            }
        }
    }
}
