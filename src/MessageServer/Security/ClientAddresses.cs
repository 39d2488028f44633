using System.Net;
using System.Net.Sockets;

namespace MessageServer.Security;

/// <summary>
/// The client address a request comes from (after TRUSTED_PROXIES' X-Forwarded-For, when set), in the forms that
/// rate limits and credential scopes key on.
/// </summary>
public static class ClientAddresses
{
    /// <summary>The address, with an IPv4 client on a dual-stack socket (::ffff:a.b.c.d) shown as plain IPv4.</summary>
    public static IPAddress? Of(HttpContext context) =>
        context.Connection.RemoteIpAddress is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : context.Connection.RemoteIpAddress;

    /// <summary>
    /// What one client is, for limits: an IPv4 address as it is, an IPv6 address by its network of
    /// <paramref name="ipv6PrefixLength"/> bits, since one host usually holds a whole /64 and could otherwise take a
    /// fresh address (and a fresh allowance) per request.
    /// </summary>
    public static string LimitKey(IPAddress? address, int ipv6PrefixLength) => address switch
    {
        null => "unknown",
        { AddressFamily: AddressFamily.InterNetworkV6 } => new IPNetwork(Masked(address, ipv6PrefixLength), ipv6PrefixLength).ToString(),
        _ => address.ToString(),
    };

    private static IPAddress Masked(IPAddress address, int prefixLength)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefixLength; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }
        return new IPAddress(bytes);
    }
}
