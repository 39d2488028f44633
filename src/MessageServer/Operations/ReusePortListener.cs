using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace MessageServer.Operations;

/// <summary>
/// Binds the public port with SO_REUSEPORT, so two versions of the server can listen on it at once while a
/// deploy switches from one to the other: the kernel spreads new connections over both, and once the old one
/// stops listening (with net.ipv4.tcp_migrate_req=1, even its queued connections move over) only the new one is left.
/// </summary>
public static class ReusePortListener
{
    private const int SolSocket = 1;
    private const int SoReusePort = 15;

    public static Func<EndPoint, Socket> CreateBoundSocket(int port) => endpoint =>
    {
        if (endpoint is not IPEndPoint ip || ip.Port != port || !OperatingSystem.IsLinux())
        {
            return SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        }
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (ip.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true;
            }
            socket.SetRawSocketOption(SolSocket, SoReusePort, BitConverter.GetBytes(1));
            socket.Bind(ip);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    };
}
