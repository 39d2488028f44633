using System.Net;
using System.Text;
using System.Threading.Channels;

namespace MessageServer.Tests.Infrastructure;

public sealed record SseEvent(string? Id, string Event, string Data);

/// <summary>A Server-Sent Events client that records everything a stream sends, for assertions.</summary>
public sealed class SseClient : IAsyncDisposable
{
    private readonly HttpClient? ownHttp;
    private readonly HttpResponseMessage response;
    private readonly Channel<SseEvent> events = Channel.CreateUnbounded<SseEvent>();
    private readonly CancellationTokenSource stop = new();
    private readonly Task reader;
    private readonly List<string> comments = [];

    private SseClient(HttpClient? ownHttp, HttpResponseMessage response)
    {
        this.ownHttp = ownHttp;
        this.response = response;
        reader = Task.Run(ReadAsync);
    }

    public HttpResponseMessage Response => response;

    public int CommentCount
    {
        get { lock (comments) { return comments.Count; } }
    }

    public IReadOnlyList<string> Comments
    {
        get { lock (comments) { return [.. comments]; } }
    }

    /// <summary>The last reconnection delay (retry:) the server sent, in milliseconds.</summary>
    public long? Retry { get; private set; }

    /// <summary>Completes when the server ends the stream.</summary>
    public Task Closed => reader;

    /// <param name="through">A client to share (e.g. one speaking HTTP/2, whose streams share connections), with its
    /// base address and default version; otherwise the stream gets an HTTP/1.1 client of its own.</param>
    public static async Task<SseClient> ConnectAsync(Uri baseAddress, string path, string? lastEventId = null, string? bearerToken = null, HttpClient? through = null)
    {
        var ownHttp = through is null ? new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan } : null;
        var http = through ?? ownHttp!;
        using var request = new HttpRequestMessage(HttpMethod.Get, path) { Version = http.DefaultRequestVersion, VersionPolicy = http.DefaultVersionPolicy };
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }
        if (bearerToken is not null)
        {
            request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", bearerToken);
        }
        using var headersTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersTimeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseClient(ownHttp, response);
    }

    public async Task<SseEvent> NextAsync(TimeSpan? timeout = null)
    {
        using var cancel = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(10));
        try
        {
            return await events.Reader.ReadAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("No event arrived in time.");
        }
    }

    /// <summary>Reads events until <paramref name="count"/> "message" events have arrived; returns them in order.</summary>
    public async Task<List<MessageDto>> ReadMessagesAsync(int count, TimeSpan? timeout = null)
    {
        var messages = new List<MessageDto>();
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (messages.Count < count)
        {
            var remaining = deadline - DateTime.UtcNow;
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"Got {messages.Count} of {count} messages: {string.Join(",", messages.Select(m => m.Id))}");
            }
            var next = await NextAsync(remaining);
            if (next.Event == "message")
            {
                var message = System.Text.Json.JsonSerializer.Deserialize<MessageDto>(next.Data, Json.Web)!;
                Assert.Equal(message.Id.ToString(System.Globalization.CultureInfo.InvariantCulture), next.Id);
                messages.Add(message);
            }
        }
        return messages;
    }

    /// <summary>True when no further event arrives within <paramref name="quiet"/>.</summary>
    public async Task<bool> StaysQuietAsync(TimeSpan quiet)
    {
        using var cancel = new CancellationTokenSource(quiet);
        try
        {
            await events.Reader.WaitToReadAsync(cancel.Token);
            return !events.Reader.TryPeek(out _);
        }
        catch (OperationCanceledException)
        {
            return true;
        }
    }

    private async Task ReadAsync()
    {
        try
        {
            await using var stream = await response.Content.ReadAsStreamAsync(stop.Token);
            using var lines = new StreamReader(stream, Encoding.UTF8);
            string? id = null, type = null;
            var data = new StringBuilder();
            while (await lines.ReadLineAsync(stop.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data.Length > 0 || type is not null)
                    {
                        events.Writer.TryWrite(new SseEvent(id, type ?? "message", data.ToString()));
                    }
                    id = type = null;
                    data.Clear();
                }
                else if (line.StartsWith(':'))
                {
                    lock (comments)
                    {
                        comments.Add(line[1..].Trim());
                    }
                }
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                {
                    id = line[4..];
                }
                else if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line[7..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(line[6..]);
                }
                else if (line.StartsWith("retry: ", StringComparison.Ordinal))
                {
                    Retry = long.Parse(line[7..], System.Globalization.CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException or HttpRequestException or ObjectDisposedException or ArgumentException)
        {
            // The stream ended: by the server, the network, or our own DisposeAsync.
        }
        finally
        {
            events.Writer.TryComplete();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await stop.CancelAsync();
        response.Dispose();
        await reader;
        ownHttp?.Dispose();
        stop.Dispose();
    }
}

public static class Json
{
    public static readonly System.Text.Json.JsonSerializerOptions Web = new(System.Text.Json.JsonSerializerDefaults.Web);
}
