using MessageServer.Configuration;

namespace MessageServer.Operations;

/// <summary>
/// `dotnet MessageServer.dll healthcheck`: asks the server on this machine whether it is ready and exits 0 or 1,
/// so a container HEALTHCHECK works without curl or a shell in the image.
/// </summary>
public static class HealthProbe
{
    public const string Command = "healthcheck";

    public static async Task<int> RunAsync(ServerSettings settings)
    {
        var port = settings.Port == 0 ? ServerSettings.DefaultPort : settings.Port;
        var (handler, address) = settings.SocketPath is { } socketPath
            ? (UnixSocketListener.ClientHandler(socketPath), $"{socketPath} (/ready)")
            : (new SocketsHttpHandler(), $"http://127.0.0.1:{port}/ready");
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            // Over the socket the host name is only the request's Host header.
            using var response = await client.GetAsync(new Uri(settings.SocketPath is null ? address : "http://localhost/ready"));
            var body = await response.Content.ReadAsStringAsync();
            Console.WriteLine($"healthcheck: {(int)response.StatusCode} {body}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"healthcheck: no answer from {address} ({exception.Message})");
            return 1;
        }
    }
}
