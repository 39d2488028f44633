using System.Net;
using System.Net.Sockets;
using MessageServer.Configuration;

namespace MessageServer.Operations;

/// <summary>
/// Checks before start-up that the server can listen where it is told to, so that a port in use or a wrong
/// SOCKET_PATH is one line saying what to change, not a failed host start with its stack traces.
/// </summary>
public static class ListenCheck
{
    public static string? Problem(ServerSettings settings)
    {
        if (settings.SocketPath is { } socketPath)
        {
            try
            {
                UnixSocketListener.RemoveLeftOverSocket(socketPath);
            }
            catch (IOException exception)
            {
                return exception.Message;
            }
            return PortProblem(settings.MetricsPort, "METRICS_PORT") ?? PortProblem(settings.H2cPort, "H2C_PORT");
        }
        return PortProblem(settings.Port, "PORT") ?? PortProblem(settings.MetricsPort, "METRICS_PORT") ?? PortProblem(settings.H2cPort, "H2C_PORT");
    }

    private static string? PortProblem(int? port, string name)
    {
        if (port is not > 0)
        {
            return null;
        }
        var listener = new TcpListener(IPAddress.Any, port.Value);
        try
        {
            listener.Start();
            return null;
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return $"{name} {port} is in use by another process; stop that one or set {name} to a free port.";
        }
        catch (SocketException exception) when (exception.SocketErrorCode == SocketError.AccessDenied)
        {
            return $"{name} {port} needs privileges this process lacks (ports below 1024 do); set {name} to 1024 or above.";
        }
        finally
        {
            listener.Stop();
        }
    }
}
