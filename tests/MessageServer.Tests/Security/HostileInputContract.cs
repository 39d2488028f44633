using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Security;

/// <summary>
/// Hundreds of generated malformed and hostile requests, in both storage modes: no 5xx, the server stays
/// healthy, and only the requests it accepted (201) changed what is stored.
/// </summary>
public abstract class HostileInputContract(ServerFixture server)
{
    private const int Seed = 20261125;
    private const string UnsupportedVersion = "raw GET / HTTP/9.9";

    private HttpClient Client => server.Client;

    [Fact]
    public async Task Five_hundred_hostile_requests_cause_no_5xx_and_only_accepted_ones_store_anything()
    {
        var random = new Random(Seed);
        var before = await StoredCountAsync();
        var accepted = 0;
        var failures = new List<string>();
        var requests = Generate(random).ToList();

        foreach (var (name, send) in requests)
        {
            var status = await send(this);
            // HTTP/9.9 is answered by Kestrel itself with 505 (HTTP Version Not Supported), the status RFC 9110
            // prescribes, before the request reaches the app; every other request must get an answer below 500.
            if (name.StartsWith(UnsupportedVersion, StringComparison.Ordinal) ? status != 505 : status >= 500 || status == 0)
            {
                failures.Add($"{name}: {status}");
            }
            if (status == 201)
            {
                accepted++;
            }
        }

        Assert.True(requests.Count >= 500, $"only {requests.Count} requests");
        Assert.Empty(failures);
        using var health = await Client.GetAsync("/health");
        using var ready = await Client.GetAsync("/ready");
        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (health.StatusCode, ready.StatusCode));
        Assert.Equal(before + accepted, await StoredCountAsync());
    }

    private async Task<long> StoredCountAsync() =>
        (await Client.GetFromJsonAsync<TopicListDto>("/api/topics"))!.Topics.Sum(t => t.MessageCount);

    private async Task<int> SendAsync(HttpMethod method, string path, string? contentType, byte[]? body, params (string, string)[] headers)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            // The server answers an oversized body (413) before reading it; with 100-continue the client then
            // never sends it, instead of finding the connection closed mid-upload.
            request.Headers.ExpectContinue = true;
            request.Content = new ByteArrayContent(body);
            if (contentType is not null)
            {
                request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            }
        }
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        using var response = await Client.SendAsync(request);
        return (int)response.StatusCode;
    }

    /// <summary>Sends raw bytes as a request and reads the status code of the answer (0 when there is none).</summary>
    private async Task<int> SendRawAsync(byte[] request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, server.Host.BaseAddress.Port);
        await socket.SendAsync(request);
        var buffer = new byte[64];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var read = await socket.ReceiveAsync(buffer, SocketFlags.None, timeout.Token);
        var statusLine = Encoding.ASCII.GetString(buffer, 0, read);
        return statusLine.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) && int.TryParse(statusLine.AsSpan(9, 3), out var status) ? status : 0;
    }

    private static IEnumerable<(string Name, Func<HostileInputContract, Task<int>> Send)> Generate(Random random)
    {
        string Topic() => "fuzz-" + random.Next(1000);
        byte[] Bytes(int length) { var bytes = new byte[length]; random.NextBytes(bytes); return bytes; }
        var contentTypes = new[] { "application/json", "text/plain", "application/json; charset=utf-8", "text/plain; charset=latin1", "application/xml", "", "application/json; charset=\"", "*/*", "text/plain; charset=utf-16" };
        const string valid = """{"text": "a fine message", "author": "fuzzer"}""";

        for (var i = 0; i < 80; i++)
        {
            var body = Bytes(random.Next(0, 2000));
            var type = contentTypes[random.Next(contentTypes.Length)];
            yield return ($"random bytes as {type}", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", type, body));
        }
        for (var i = 0; i < 60; i++)
        {
            var cut = valid[..random.Next(0, valid.Length)];
            yield return ($"truncated JSON '{cut}'", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes(cut)));
        }
        foreach (var depth in new[] { 64, 65, 1000, 10_000, 30_000 })
        {
            yield return ($"nested arrays {depth}", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json",
                Encoding.UTF8.GetBytes("{\"text\": \"x\", \"deep\": " + new string('[', depth) + new string(']', depth) + "}")));
            yield return ($"nested objects {depth}", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json",
                Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"a\":", depth)) + "1" + new string('}', depth))));
        }
        foreach (var number in new[] { "1e999999", "-1e999999", "123456789012345678901234567890", "NaN", "Infinity", "0x10", "1.7976931348623157e309" })
        {
            yield return ($"number {number} as text", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes($"{{\"text\": {number}}}")));
            yield return ($"number {number} as author", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes($"{{\"text\": \"x\", \"author\": {number}}}")));
            yield return ($"number {number} as limit", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages?limit={Uri.EscapeDataString(number)}", null, null));
            yield return ($"number {number} as after", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages?after={Uri.EscapeDataString(number)}", null, null));
        }
        for (var i = 0; i < 40; i++)
        {
            var invalid = Encoding.UTF8.GetBytes("{\"text\": \"").Concat(new[] { (byte)random.Next(0x80, 0x100), (byte)random.Next(0x00, 0x100) }).Concat(Encoding.UTF8.GetBytes("\"}")).ToArray();
            yield return ("invalid UTF-8 in JSON", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", invalid));
            var plain = new[] { (byte)'h', (byte)random.Next(0x80, 0x100), (byte)random.Next(0xC0, 0x100) };
            yield return ("invalid UTF-8 in text/plain", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "text/plain", plain));
        }
        for (var i = 0; i < 32; i++)
        {
            var control = (char)i;
            var escaped = $"\\u{i:x4}";
            yield return ($"escaped control U+{i:X4} in text", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes($"{{\"text\": \"a{escaped}b\"}}")));
            yield return ($"raw control U+{i:X4} in JSON", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes($"{{\"text\": \"a{control}b\"}}")));
            yield return ($"control U+{i:X4} in plain text", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "text/plain", Encoding.UTF8.GetBytes($"a{control}b")));
        }
        foreach (var size in new[] { 8 * 1024, 20 * 1024, 40 * 1024 })
        {
            yield return ($"X-Author of {size} bytes", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "text/plain", "hi"u8.ToArray(), ("X-Author", new string('a', size))));
            yield return ($"path of {size} bytes", t => t.SendAsync(HttpMethod.Get, "/api/topics/" + new string('t', size) + "/messages", null, null));
            yield return ($"query of {size} bytes", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages?limit=" + new string('9', size), null, null));
        }
        foreach (var method in new[] { "PUT", "PATCH", "TRACE", "OPTIONS", "PROPFIND", "CONNECT", "FOO", "HEAD", "DELETE" })
        {
            foreach (var path in new[] { "/api/topics/x/messages", "/api/topics", "/api/messages/1", "/health", "/api/topics/x/stream" })
            {
                if (method == "CONNECT")
                {
                    yield return ($"{method} {path}", t => t.SendRawAsync(Encoding.ASCII.GetBytes($"CONNECT {path} HTTP/1.1\r\nHost: x\r\n\r\n")));
                }
                else if (!(method == "DELETE" && path == "/api/messages/1"))
                {
                    yield return ($"{method} {path}", t => t.SendAsync(new HttpMethod(method), path, null, null));
                }
            }
        }
        foreach (var path in new[]
        {
            "/api/topics/../../etc/passwd/messages", "/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fappsettings.json", "/appsettings.json",
            "/api/topics/%2e%2e%2fsecrets/messages", "/MessageServer.dll", "/api/messages/..%2f1", "/wwwroot/../Program.cs",
            "/api/topics/%00/messages", "/api/topics/a%00b/messages", "/api/messages/1%00", "//etc/passwd", "/api//topics//x//messages",
            "/api/topics/x/messages/../../../../health", "/docs/../../../etc/passwd", "/api/topics/%C0%AE%C0%AE/messages",
        })
        {
            yield return ($"traversal {path}", t => t.SendRawAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
        }
        foreach (var payload in new[]
        {
            "'; DROP TABLE messages; --", "\" OR 1=1 --", "1; DELETE FROM messages", "<script>alert(1)</script>", "<img src=x onerror=alert(1)>",
            "${jndi:ldap://x/a}", "{{7*7}}", "%s%s%s%n", "../../../../etc/passwd", "\\\\server\\share",
        })
        {
            var json = Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { text = payload, author = payload.Length > 64 ? payload[..64] : payload }));
            yield return ($"payload {payload} in body", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", json));
            yield return ($"payload {payload} as topic", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Uri.EscapeDataString(payload)}/messages", "application/json", Encoding.UTF8.GetBytes(valid)));
            yield return ($"payload {payload} as limit", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages?limit={Uri.EscapeDataString(payload)}", null, null));
            yield return ($"payload {payload} as id", t => t.SendAsync(HttpMethod.Get, $"/api/messages/{Uri.EscapeDataString(payload)}", null, null));
            yield return ($"payload {payload} as Last-Event-ID", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/stream", null, null, ("Last-Event-ID", payload)));
            yield return ($"payload {payload} as Idempotency-Key", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", Encoding.UTF8.GetBytes(valid), ("Idempotency-Key", payload)));
            yield return ($"payload {payload} as token", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages", null, null, ("Authorization", "Bearer " + payload)));
        }
        foreach (var (field, limit) in new[] { ("text", 4000), ("author", 64) })
        {
            foreach (var length in new[] { limit - 1, limit, limit + 1, limit * 2 })
            {
                var body = field == "text"
                    ? Encoding.UTF8.GetBytes($"{{\"text\": \"{new string('x', length)}\"}}")
                    : Encoding.UTF8.GetBytes($"{{\"text\": \"x\", \"author\": \"{new string('a', length)}\"}}");
                yield return ($"{field} of {length}", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "application/json", body));
            }
        }
        foreach (var length in new[] { 63, 64, 65, 200 })
        {
            yield return ($"topic of {length}", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{new string('t', length)}/messages", "application/json", Encoding.UTF8.GetBytes(valid)));
        }
        foreach (var size in new[] { 64 * 1024 - 20, 64 * 1024, 64 * 1024 + 1, 2 * 1024 * 1024 })
        {
            var body = Encoding.UTF8.GetBytes(new string('b', size));
            yield return ($"plain body of {size} bytes", t => t.SendAsync(HttpMethod.Post, $"/api/topics/{Topic()}/messages", "text/plain", body));
        }
        foreach (var limit in new[] { "0", "1", "200", "201", "-1", "", "1,2", "1&limit=2" })
        {
            yield return ($"limit {limit}", t => t.SendAsync(HttpMethod.Get, $"/api/topics/{Topic()}/messages?limit={limit}", null, null));
        }
        foreach (var raw in new[]
        {
            "GARBAGE\r\n\r\n", "GET\r\n\r\n", "GET / HTTP/9.9\r\nHost: x\r\n\r\n", "GET / HTTP/1.1\r\n\r\n",
            "POST /api/topics/x/messages HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nContent-Length: 20\r\n\r\n0123456789",
            "POST /api/topics/x/messages HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\nzzzz\r\n",
            "POST /api/topics/x/messages HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\nxx\r\n0\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "GET /\u0001 HTTP/1.1\r\nHost: x\r\n\r\n", "\u0016\u0003\u0001\u0002\u0000\u0001\u0000\u0001\u00fc\u0003\u0003",
        })
        {
            yield return ($"raw {raw[..Math.Min(20, raw.Length)]}", t => t.SendRawAsync(Encoding.Latin1.GetBytes(raw)));
        }
    }
}

public sealed class SqliteHostileInputTests(SqliteServerFixture server) : HostileInputContract(server), IClassFixture<SqliteServerFixture>;

public sealed class PostgresHostileInputTests(PostgresServerFixture server) : HostileInputContract(server), IClassFixture<PostgresServerFixture>;
