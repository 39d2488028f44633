using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using MessageServer.Configuration;
using MessageServer.Messages;
using Microsoft.Extensions.Options;

namespace MessageServer.Webhooks;

/// <summary>What one POST to a webhook came to: the status (null when no response came) and what went wrong.</summary>
public sealed record SendResult(int? Status, string? Error, TimeSpan? RetryAfter)
{
    public bool Succeeded => Status is >= 200 and < 300;
}

/// <summary>
/// POSTs one message to one webhook, signed per Standard Webhooks: connect within 5 s, the whole exchange within
/// 10 s, redirects not followed, at most 64 KiB of the response read. Connections go through
/// <see cref="WebhookTargets.ConnectAsync"/>, never through a proxy, so every address is checked when connected to.
/// </summary>
public sealed class WebhookSender : IDisposable
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    public const int MaxResponseBytes = 64 * 1024;
    private const int MaxErrorLength = 300;

    private readonly HttpClient client;
    private readonly JsonSerializerOptions json;

    public WebhookSender(WebhookTargets targets, ServerSettings settings, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> jsonOptions)
    {
        // The options the API answers with: the body is the message exactly as GET /api/messages/{id} returns it.
        json = jsonOptions.Value.SerializerOptions;
        client = new HttpClient(new SocketsHttpHandler
        {
            ConnectCallback = targets.ConnectAsync,
            ConnectTimeout = ConnectTimeout,
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = System.Net.DecompressionMethods.None,
            // Connections are reused, but not forever: a host's addresses are looked up (and checked) again.
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
        })
        {
            Timeout = Timeout.InfiniteTimeSpan, // RequestTimeout is applied per request, so a timeout can be told apart from a shutdown
        };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("message-server-webhooks", ProductVersion(settings.Version)));
    }

    /// <summary>
    /// The version as a User-Agent product version: a header token allows only some characters, and APP_VERSION may
    /// be any release name (a branch such as feature/x), so the others become '-' rather than failing at start-up.
    /// </summary>
    internal static string ProductVersion(string version)
    {
        var token = new StringBuilder();
        foreach (var character in version.Split('+')[0])
        {
            token.Append(char.IsAsciiLetterOrDigit(character) || "!#$%&'*.^_`|~-".Contains(character) ? character : '-');
        }
        return token.Length == 0 ? "unknown" : token.ToString();
    }

    /// <summary>The webhook-id of a message's delivery to a webhook: the same on every retry, so receivers can deduplicate.</summary>
    public static string DeliveryId(long webhookId, long messageId) => $"msg_{messageId}_wh_{webhookId}";

    public byte[] Body(Message message) => JsonSerializer.SerializeToUtf8Bytes(message, json);

    public async Task<SendResult> SendAsync(Webhook webhook, Message message, CancellationToken cancellationToken)
    {
        var body = Body(message);
        var id = DeliveryId(webhook.Id, message.Id);
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, webhook.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("webhook-id", id);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", WebhookSignature.Sign(webhook.Secret, id, timestamp, body));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            var excerpt = await ReadExcerptAsync(response.Content, timeout.Token);
            return response.IsSuccessStatusCode
                ? new SendResult(status, null, null)
                : new SendResult(status, Shorten($"HTTP {status}{(excerpt.Length > 0 ? ": " + excerpt : "")}"), RetryAfter(response.Headers.RetryAfter));
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(null, $"no complete answer within {RequestTimeout.TotalSeconds:0} s", null);
        }
        catch (HttpRequestException exception)
        {
            return new SendResult(null, Shorten(Describe(exception)), null);
        }
    }

    /// <summary>At most 64 KiB of the body is read (the rest is dropped with the connection); a short excerpt is kept for lastError.</summary>
    private static async Task<string> ReadExcerptAsync(HttpContent content, CancellationToken cancellationToken)
    {
        await using var stream = await content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[MaxResponseBytes];
        var read = 0;
        int chunk;
        while (read < buffer.Length && (chunk = await stream.ReadAsync(buffer.AsMemory(read), cancellationToken)) > 0)
        {
            read += chunk;
        }
        var text = Encoding.UTF8.GetString(buffer, 0, Math.Min(read, 400));
        return new string([.. text.Select(c => char.IsControl(c) ? ' ' : c)]).Trim();
    }

    private static TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow,
        _ => null,
    };

    /// <summary>The most telling message in the chain: a refused address, a refused connection, a name that does not resolve.</summary>
    private static string Describe(Exception exception)
    {
        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (inner is TargetRefusedException)
            {
                return inner.Message;
            }
        }
        return exception.InnerException is { } cause ? $"{exception.Message} ({cause.Message})" : exception.Message;
    }

    private static string Shorten(string text) => text.Length <= MaxErrorLength ? text : text[..MaxErrorLength] + "…";

    public void Dispose() => client.Dispose();
}
