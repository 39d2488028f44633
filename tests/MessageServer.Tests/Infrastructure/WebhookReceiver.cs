using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StandardWebhooks;

namespace MessageServer.Tests.Infrastructure;

/// <summary>One webhook request as a receiver saw it, its signature checked with the StandardWebhooks library.</summary>
public sealed record ReceivedWebhook(
    int Number, string WebhookId, string? ContentType, byte[] Body, long MessageId, bool SignatureValid, DateTime ReceivedAt, int AnsweredWith)
{
    public string Text => Encoding.UTF8.GetString(Body);
}

/// <summary>How the receiver answers one request: a status, after a delay, with optional headers.</summary>
public sealed record Reply(int Status, TimeSpan Delay = default, string? RetryAfter = null, string? Location = null)
{
    public static readonly Reply Ok = new(200);
}

/// <summary>
/// A real HTTP receiver on loopback (Kestrel at a free port) that records every webhook request, verifies its
/// Standard Webhooks signature with the StandardWebhooks package, counts requests in flight at once, and answers
/// as <see cref="Respond"/> says (by default 200 at once).
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly WebApplication app;
    private readonly ConcurrentQueue<ReceivedWebhook> received = new();
    private int requests;
    private int inFlight;
    private int maxInFlight;

    private WebhookReceiver(WebApplication app)
    {
        this.app = app;
    }

    /// <summary>Where the receiver listens (known once it has started).</summary>
    public string Url { get; private set; } = "";

    /// <summary>The webhook's secret, for verifying signatures; set it from the creation's answer.</summary>
    public string? Secret { get; set; }

    /// <summary>Decides each answer from the request's number (1, 2, ... over all requests) and what was received.</summary>
    public Func<int, ReceivedWebhook, Reply> Respond { get; set; } = (_, _) => Reply.Ok;

    public IReadOnlyList<ReceivedWebhook> Received => [.. received];

    /// <summary>The most requests that were being answered at the same moment.</summary>
    public int MaxInFlight => Volatile.Read(ref maxInFlight);

    public static async Task<WebhookReceiver> StartAsync(string path = "/hook")
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Run(receiver.HandleAsync);
        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        receiver.Url = $"http://127.0.0.1:{address.Port}{path}";
        return receiver;
    }

    private async Task HandleAsync(HttpContext context)
    {
        var now = Interlocked.Increment(ref inFlight);
        var seen = Volatile.Read(ref maxInFlight);
        while (now > seen && Interlocked.CompareExchange(ref maxInFlight, now, seen) != seen)
        {
            seen = Volatile.Read(ref maxInFlight);
        }
        try
        {
            using var buffer = new MemoryStream();
            await context.Request.Body.CopyToAsync(buffer);
            var body = buffer.ToArray();
            var number = Interlocked.Increment(ref requests);
            var request = new ReceivedWebhook(number, context.Request.Headers["webhook-id"].ToString(), context.Request.ContentType, body,
                MessageIdOf(body), Verify(body, context.Request.Headers), DateTime.UtcNow, 0);
            var reply = Respond(number, request);
            if (reply.Delay > TimeSpan.Zero)
            {
                await Task.Delay(reply.Delay);
            }
            received.Enqueue(request with { AnsweredWith = reply.Status });
            context.Response.StatusCode = reply.Status;
            if (reply.RetryAfter is not null)
            {
                context.Response.Headers.RetryAfter = reply.RetryAfter;
            }
            if (reply.Location is not null)
            {
                context.Response.Headers.Location = reply.Location;
            }
        }
        finally
        {
            Interlocked.Decrement(ref inFlight);
        }
    }

    private bool Verify(byte[] body, IHeaderDictionary headers)
    {
        if (Secret is null)
        {
            return false;
        }
        try
        {
            new StandardWebhook(Secret).Verify(Encoding.UTF8.GetString(body), headers);
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static long MessageIdOf(byte[] body)
    {
        try
        {
            return JsonDocument.Parse(body).RootElement.GetProperty("id").GetInt64();
        }
        catch (Exception)
        {
            return -1;
        }
    }

    /// <summary>The requests answered with 2xx, first arrival of each message only, in arrival order.</summary>
    public IReadOnlyList<ReceivedWebhook> Delivered() =>
        [.. Received.Where(r => r.AnsweredWith is >= 200 and < 300).GroupBy(r => r.MessageId).Select(g => g.First()).OrderBy(r => r.Number)];

    /// <summary>Waits until <paramref name="count"/> distinct messages were answered with 2xx.</summary>
    public async Task<IReadOnlyList<ReceivedWebhook>> WaitForDeliveredAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var delivered = Delivered();
            if (delivered.Count >= count)
            {
                return delivered;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException(string.Create(CultureInfo.InvariantCulture,
                    $"{delivered.Count} of {count} messages delivered within {timeout.TotalSeconds} s ({Received.Count} requests)"));
            }
            await Task.Delay(50);
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> requests arrived, whatever they were answered.</summary>
    public async Task WaitForRequestsAsync(int count, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (Received.Count < count)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"{Received.Count} of {count} requests arrived within {timeout.TotalSeconds} s");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await app.StopAsync();
        await app.DisposeAsync();
    }
}
