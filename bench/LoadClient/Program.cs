// The benchmark's own load client, for what wrk cannot do: thousands of Server-Sent Events subscribers on raw
// sockets measuring publish-to-receive latency, and process start-to-ready time.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MessageServer.Bench;

return args switch
{
    ["fanout", .. var rest] => await Fanout.RunAsync(Options.Parse(rest)),
    ["startup", .. var rest] => await Startup.RunAsync(rest),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine("""
        usage: LoadClient fanout --subscribe URL --publish URL --topic T --subscribers N --messages M --rate PER_SECOND
                   [--pid SERVER_PID[,PID...]] [--subscribe-path /api/topics/{topic}/stream] [--publish-path /api/topics/{topic}/messages]
                   [--protocol http1.1|h2c]
               LoadClient startup --ready URL -- COMMAND ARGUMENTS...
        """);
    return 2;
}

namespace MessageServer.Bench
{
    internal sealed class Options(Dictionary<string, string> values)
    {
        public string Get(string name) => values.TryGetValue(name, out var value) ? value : throw new ArgumentException($"--{name} is required");

        public int Number(string name) => int.Parse(Get(name), CultureInfo.InvariantCulture);

        public string? Optional(string name) => values.GetValueOrDefault(name);

        public static Options Parse(string[] arguments)
        {
            var values = new Dictionary<string, string>();
            for (var i = 0; i + 1 < arguments.Length; i += 2)
            {
                values[arguments[i].TrimStart('-')] = arguments[i + 1];
            }
            return new Options(values);
        }
    }

    /// <summary>Opens N stream subscribers, publishes M messages at a fixed rate, and measures every delivery.</summary>
    internal static class Fanout
    {
        public static async Task<int> RunAsync(Options options)
        {
            var subscribe = new Uri(options.Get("subscribe"));
            var publish = new Uri(options.Get("publish"));
            var topic = options.Get("topic");
            var subscribers = options.Number("subscribers");
            var messages = options.Number("messages");
            var rate = options.Number("rate");
            var pids = options.Optional("pid")?.Split(',') ?? [];
            // Paths with a {topic} placeholder, so that other servers (nginx with nchan) are measured the same way.
            var subscribePath = (options.Optional("subscribe-path") ?? "/api/topics/{topic}/stream").Replace("{topic}", topic, StringComparison.Ordinal);
            var publishPath = (options.Optional("publish-path") ?? "/api/topics/{topic}/messages").Replace("{topic}", topic, StringComparison.Ordinal);

            var rssBefore = Rss(pids);
            var latencies = new List<double>[subscribers];
            var connected = 0;
            var delivered = 0;
            using var stop = new CancellationTokenSource();
            var readers = new Task[subscribers];
            // HTTP/1.1: one raw socket per subscriber. h2c: HTTP/2 without TLS, the streams multiplexed on as few
            // connections as the server's stream limit allows (what a front proxy speaking HTTP/2 to the app does).
            using var h2c = options.Optional("protocol") == "h2c" ? Http2Client() : null;
            for (var i = 0; i < subscribers; i++)
            {
                var mine = latencies[i] = new List<double>(messages);
                Action onConnected = () => Interlocked.Increment(ref connected);
                Action onDelivered = () => Interlocked.Increment(ref delivered);
                if (h2c is not null)
                {
                    readers[i] = ReadHttp2Async(h2c, new Uri(subscribe, subscribePath), mine, onConnected, onDelivered, stop.Token);
                    continue;
                }
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                if (subscribers > 10_000)
                {
                    // One address has only ~28,000 ephemeral ports, some still in TIME_WAIT from earlier runs: past
                    // 10,000 subscribers, 10,000 per loopback address of their own (127.1.N.1).
                    socket.Bind(new IPEndPoint(IPAddress.Parse($"127.1.{i / 10_000}.1"), 0));
                }
                await socket.ConnectAsync(subscribe.Host, subscribe.Port);
                await socket.SendAsync(Encoding.ASCII.GetBytes(
                    $"GET {subscribePath} HTTP/1.1\r\nHost: {subscribe.Authority}\r\nAccept: text/event-stream\r\n\r\n"));
                readers[i] = ReadAsync((buffer, token) => socket.ReceiveAsync(buffer, SocketFlags.None, token), socket, mine, onConnected, onDelivered, headersSeen: false, stop.Token);
            }
            var deadline = DateTime.UtcNow.AddSeconds(60 + subscribers / 1000);
            while (Volatile.Read(ref connected) < subscribers && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            await Task.Delay(500);
            var rssIdle = Rss(pids);

            using var client = new HttpClient { BaseAddress = publish };
            var interval = TimeSpan.FromSeconds(1.0 / rate);
            var clock = Stopwatch.StartNew();
            for (var m = 0; m < messages; m++)
            {
                var due = interval * m;
                if (clock.Elapsed < due)
                {
                    await Task.Delay(due - clock.Elapsed);
                }
                // Compact JSON: a server that relays the body as it is (nchan) then sends the same bytes as one that re-serialises it.
                var body = $"{{\"text\":\"t={DateTime.UtcNow.Ticks}\"}}";
                using var response = await client.PostAsync(publishPath, new StringContent(body, Encoding.UTF8, "application/json"));
                response.EnsureSuccessStatusCode();
            }
            var expected = (long)subscribers * messages;
            deadline = DateTime.UtcNow.AddSeconds(15);
            while (Volatile.Read(ref delivered) < expected && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
            await stop.CancelAsync();

            var all = latencies.SelectMany(l => { lock (l) { return l.ToArray(); } }).Order().ToArray();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"subscribers={subscribers} connected={connected} expected={expected} delivered={delivered} " +
                $"p50_ms={Percentile(all, 0.50):0.0} p99_ms={Percentile(all, 0.99):0.0} max_ms={(all.Length == 0 ? 0 : all[^1]):0.0} " +
                $"rss_before_kb={rssBefore} rss_idle_kb={rssIdle} rss_per_subscriber_bytes={(rssIdle - rssBefore) * 1024.0 / Math.Max(1, subscribers):0}"));
            return 0;
        }

        // Each message's text is "t=<ticks when published>"; the reader finds it in the raw bytes, so that the
        // client spends as little as possible of the CPU it shares with the server.
        private static ReadOnlySpan<byte> Marker => "\"text\":\"t="u8;

        private static HttpClient Http2Client() => new(new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
        })
        { Timeout = Timeout.InfiniteTimeSpan };

        private static async Task ReadHttp2Async(HttpClient client, Uri uri, List<double> latencies, Action onConnected, Action onDelivered, CancellationToken cancellationToken)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, uri)
            {
                Version = HttpVersion.Version20,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            };
            request.Headers.Accept.ParseAdd("text/event-stream");
            HttpResponseMessage response;
            try
            {
                response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                response.EnsureSuccessStatusCode();
            }
            catch (Exception e) when (e is HttpRequestException or OperationCanceledException)
            {
                return; // counted as not connected
            }
            var body = await response.Content.ReadAsStreamAsync(cancellationToken);
            await ReadAsync((buffer, token) => body.ReadAsync(buffer, token), response, latencies, onConnected, onDelivered, headersSeen: true, cancellationToken);
        }

        private static async Task ReadAsync(Func<Memory<byte>, CancellationToken, ValueTask<int>> receive, IDisposable connection,
            List<double> latencies, Action onConnected, Action onDelivered, bool headersSeen, CancellationToken cancellationToken)
        {
            var buffer = new byte[16 * 1024];
            var filled = 0;
            if (headersSeen)
            {
                onConnected();
            }
            try
            {
                while (!cancellationToken.IsCancellationRequested)
                {
                    var read = await receive(buffer.AsMemory(filled), cancellationToken);
                    if (read == 0)
                    {
                        return;
                    }
                    var now = DateTime.UtcNow.Ticks;
                    filled += read;
                    if (!headersSeen && buffer.AsSpan(0, filled).IndexOf("\r\n\r\n"u8) >= 0)
                    {
                        headersSeen = true;
                        onConnected();
                    }
                    var keepFrom = ReadLatencies(buffer.AsSpan(0, filled), now, latencies, onDelivered);
                    // What may be the start of a marker or a value cut off by this read stays for the next one.
                    keepFrom = Math.Max(keepFrom, filled - 64);
                    keepFrom = Math.Clamp(keepFrom, 0, filled);
                    buffer.AsSpan(keepFrom, filled - keepFrom).CopyTo(buffer);
                    filled -= keepFrom;
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (Exception e) when (e is SocketException or IOException or HttpRequestException)
            {
            }
            finally
            {
                connection.Dispose();
            }
        }

        /// <summary>Records every complete timestamp in <paramref name="received"/>; returns where the unread part begins.</summary>
        private static int ReadLatencies(ReadOnlySpan<byte> received, long now, List<double> latencies, Action onDelivered)
        {
            var position = 0;
            while (true)
            {
                var marker = received[position..].IndexOf(Marker);
                if (marker < 0)
                {
                    return position;
                }
                var valueStart = position + marker + Marker.Length;
                var valueLength = received[valueStart..].IndexOf((byte)'"');
                if (valueLength < 0)
                {
                    return position + marker; // the value is not all here yet
                }
                if (System.Buffers.Text.Utf8Parser.TryParse(received.Slice(valueStart, valueLength), out long sent, out _))
                {
                    lock (latencies)
                    {
                        latencies.Add(TimeSpan.FromTicks(now - sent).TotalMilliseconds);
                    }
                    onDelivered();
                }
                position = valueStart + valueLength;
            }
        }

        private static double Percentile(double[] sorted, double p) =>
            sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

        /// <summary>The resident memory of the processes, in KiB, summed (nginx serves with several worker processes).</summary>
        private static long Rss(string[] pids) => pids.Sum(pid =>
        {
            var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        });
    }

    /// <summary>Starts a command and measures the time until a URL first answers 200; then stops it.</summary>
    internal static class Startup
    {
        public static async Task<int> RunAsync(string[] arguments)
        {
            var separator = Array.IndexOf(arguments, "--");
            var ready = new Uri(Options.Parse(arguments[..separator]).Get("ready"));
            var command = arguments[(separator + 1)..];
            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
            var clock = Stopwatch.StartNew();
            var startInfo = new ProcessStartInfo(command[0]) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in command[1..])
            {
                startInfo.ArgumentList.Add(argument);
            }
            using var process = Process.Start(startInfo)!;
            process.OutputDataReceived += (_, _) => { };
            process.ErrorDataReceived += (_, _) => { };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                while (clock.Elapsed < TimeSpan.FromSeconds(30))
                {
                    try
                    {
                        using var response = await client.GetAsync(ready);
                        if (response.IsSuccessStatusCode)
                        {
                            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ready_ms={clock.Elapsed.TotalMilliseconds:0}"));
                            return 0;
                        }
                    }
                    catch (HttpRequestException)
                    {
                    }
                    catch (TaskCanceledException)
                    {
                    }
                    await Task.Delay(2);
                }
                Console.WriteLine("ready_ms=timeout");
                return 1;
            }
            finally
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
    }
}
