using System.Net;
using System.Net.Http;
using System.Net.Sockets;

namespace MessageServer.Webhooks;

/// <summary>
/// Where webhooks may point (SSRF protection): http(s) URLs without user info, whose host resolves to public
/// addresses only. Loopback, private, link-local (the EC2 metadata service 169.254.169.254 among them), carrier-grade
/// NAT, multicast, unspecified and reserved ranges are refused, in their IPv6 and IPv4-mapped forms too. The check
/// runs when a webhook is created and again on every connection, on the addresses actually connected to, so a DNS
/// name that later resolves elsewhere (DNS rebinding) is refused as well. WEBHOOK_ALLOW_PRIVATE=true lets every
/// address through (tests, intranets); the URL rules still hold.
/// </summary>
public sealed class WebhookTargets(bool allowPrivate)
{
    public const int MaxUrlLength = 2000;

    private static readonly (IPNetwork Network, string What)[] Refused =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "an unspecified (\"this network\") address"),
        (IPNetwork.Parse("10.0.0.0/8"), "a private address"),
        (IPNetwork.Parse("100.64.0.0/10"), "a carrier-grade NAT address"),
        (IPNetwork.Parse("127.0.0.0/8"), "a loopback address"),
        (IPNetwork.Parse("169.254.0.0/16"), "a link-local address (cloud metadata services live there)"),
        (IPNetwork.Parse("172.16.0.0/12"), "a private address"),
        (IPNetwork.Parse("192.0.0.0/24"), "a reserved address"),
        (IPNetwork.Parse("192.0.2.0/24"), "a documentation address"),
        (IPNetwork.Parse("192.168.0.0/16"), "a private address"),
        (IPNetwork.Parse("198.18.0.0/15"), "a benchmarking address"),
        (IPNetwork.Parse("198.51.100.0/24"), "a documentation address"),
        (IPNetwork.Parse("203.0.113.0/24"), "a documentation address"),
        (IPNetwork.Parse("224.0.0.0/4"), "a multicast address"),
        (IPNetwork.Parse("240.0.0.0/4"), "a reserved or broadcast address"),
        (IPNetwork.Parse("::/128"), "an unspecified address"),
        (IPNetwork.Parse("::1/128"), "a loopback address"),
        (IPNetwork.Parse("::/96"), "a reserved (IPv4-compatible) address"),
        (IPNetwork.Parse("100::/64"), "a discard-only address"),
        (IPNetwork.Parse("2001::/32"), "a Teredo tunnel address"),
        (IPNetwork.Parse("2001:db8::/32"), "a documentation address"),
        (IPNetwork.Parse("fc00::/7"), "a private (unique local) address"),
        (IPNetwork.Parse("fe80::/10"), "a link-local address"),
        (IPNetwork.Parse("fec0::/10"), "a private (site-local) address"),
        (IPNetwork.Parse("ff00::/8"), "a multicast address"),
    ];

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");

    public bool AllowPrivate => allowPrivate;

    /// <summary>Why a webhook may not be sent to this address, or null when it may.</summary>
    public static string? Refusal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            return Refusal(address.MapToIPv4());
        }
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            // Addresses that carry an IPv4 address inside are judged by it.
            var bytes = address.GetAddressBytes();
            if (Nat64.Contains(address))
            {
                return Refusal(new IPAddress(bytes[12..16]));
            }
            if (SixToFour.Contains(address))
            {
                return Refusal(new IPAddress(bytes[2..6]));
            }
        }
        foreach (var (network, what) in Refused)
        {
            if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
            {
                return $"{address} is {what}";
            }
        }
        return null;
    }

    /// <summary>
    /// Parses a webhook URL. Returns the URI, or the refusal (<paramref name="malformed"/> tells a URL that is not
    /// one from a URL that is refused). System.Uri reads hosts like 2130706433 and 0177.0.0.1 as the IPv4 address they
    /// mean (127.0.0.1), so they are judged as that address.
    /// </summary>
    public async Task<(Uri? Url, string? Refusal, bool Malformed)> CheckAsync(string url, CancellationToken cancellationToken)
    {
        var malformed = $"url must be an absolute http:// or https:// URL of at most {MaxUrlLength} characters.";
        // On Unix a bare path parses as a file: URI; it is a malformed URL here, not a refused scheme.
        if (url.Length > MaxUrlLength || url.StartsWith('/') || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
        {
            return (null, malformed, true);
        }
        if (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
        {
            return (null, $"url must use http or https, not {uri.Scheme}.", false);
        }
        if (string.IsNullOrEmpty(uri.Host))
        {
            return (null, malformed, true);
        }
        if (uri.UserInfo.Length > 0)
        {
            return (null, "url must not contain user info (user:password@); put credentials in the URL's path or query instead.", false);
        }
        if (allowPrivate)
        {
            return (uri, null, false);
        }
        IPAddress[] addresses;
        if (IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var literal))
        {
            addresses = [literal];
        }
        else
        {
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(WebhookSender.ConnectTimeout);
                addresses = await Dns.GetHostAddressesAsync(uri.IdnHost, timeout.Token);
            }
            catch (Exception exception) when (exception is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // A name that does not resolve yet may later: every connection is checked anyway.
                return (uri, null, false);
            }
        }
        foreach (var address in addresses)
        {
            if (Refusal(address) is { } refusal)
            {
                return (null, $"url must point to a public address: {uri.Host} resolves to {refusal} (WEBHOOK_ALLOW_PRIVATE=true allows it).", false);
            }
        }
        return (uri, null, false);
    }

    /// <summary>
    /// The HTTP client's connect step: resolves the host and connects only to addresses that are allowed right now,
    /// so what was checked is what is connected to.
    /// </summary>
    public async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host.Trim('[', ']');
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        var allowed = allowPrivate ? addresses : addresses.Where(address => Refusal(address) is null).ToArray();
        if (allowed.Length == 0)
        {
            var why = addresses.Length == 0 ? "no address" : Refusal(addresses[0]);
            throw new TargetRefusedException($"refused to connect: {host} resolves to {why}");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(allowed, context.DnsEndPoint.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }
}

/// <summary>A webhook's host resolved only to addresses it may not reach.</summary>
public sealed class TargetRefusedException(string message) : Exception(message);
