using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Server.Kestrel.Transport.Sockets;

namespace MessageServer.Operations;

/// <summary>
/// Binds SOCKET_PATH for the front proxy. A socket file left by an earlier run of this container (a crash, a
/// reboot) is removed first, or the bind would fail. The socket is opened to every local user: the proxy and the
/// deploy's health gate run as other users than the app, and the folder it lives in is what guards it.
/// </summary>
public static class UnixSocketListener
{
    private const UnixFileMode ConnectableByAll =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    public static Socket CreateBoundSocket(EndPoint endpoint)
    {
        if (endpoint is not UnixDomainSocketEndPoint unix || unix.ToString() is not { Length: > 0 } path)
        {
            return SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        }
        if (File.Exists(path))
        {
            File.Delete(path);
        }
        var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, ConnectableByAll);
        }
        return socket;
    }

    /// <summary>A client handler that reaches the server over the socket, whatever host the request URL names.</summary>
    public static SocketsHttpHandler ClientHandler(string path) => new()
    {
        ConnectCallback = async (_, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            try
            {
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(path), cancellationToken);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };
}
