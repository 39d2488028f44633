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
        // INSTANCE_PORT reaches this process alone even when another version shares PORT during a deploy.
        var port = settings.InstancePort ?? (settings.Port == 0 ? ServerSettings.DefaultPort : settings.Port);
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(3) };
        try
        {
            using var response = await client.GetAsync(new Uri($"http://127.0.0.1:{port}/ready"));
            var body = await response.Content.ReadAsStringAsync();
            Console.WriteLine($"healthcheck: {(int)response.StatusCode} {body}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"healthcheck: no answer from http://127.0.0.1:{port}/ready ({exception.Message})");
            return 1;
        }
    }
}
