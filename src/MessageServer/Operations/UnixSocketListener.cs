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
        RemoveLeftOverSocket(path);
        var socket = SocketTransportOptions.CreateDefaultBoundListenSocket(endpoint);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(path, ConnectableByAll);
        }
        return socket;
    }

    /// <summary>
    /// Removes a socket file that no server listens on any more. Anything else at the path stays, and the start fails
    /// saying why: a live server's socket (taking it over would cut that server off), or a file that is not a socket.
    /// </summary>
    internal static void RemoveLeftOverSocket(string path)
    {
        if (Directory.Exists(path))
        {
            throw new IOException($"SOCKET_PATH {path} is a directory, not a socket; give the path of the socket file to create in it.");
        }
        if (!Path.Exists(path))
        {
            return;
        }
        using (var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            try
            {
                probe.Connect(new UnixDomainSocketEndPoint(path));
                throw new IOException($"SOCKET_PATH {path} is in use: another server listens on it; stop that one first, or give this one another path.");
            }
            catch (SocketException exception) when (exception.SocketErrorCode == SocketError.ConnectionRefused)
            {
                // Nobody listens. Linux refuses a connection to a file that is not a socket too, hence the check below.
            }
        }
        if (!IsSocketFile(path))
        {
            throw new IOException($"SOCKET_PATH {path} is an existing file, not a socket; remove it yourself or give another path.");
        }
        File.Delete(path);
    }

    /// <summary>A socket cannot be opened like a file (the system answers "no such device"); any other file can.</summary>
    private static bool IsSocketFile(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            return false;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
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
