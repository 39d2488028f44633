using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace MessageServer.Tests.Infrastructure;

/// <summary>
/// The real server (Program) in this process, on real Kestrel at a free loopback port, so tests go through
/// the same HTTP stack as curl does.
/// </summary>
public sealed class MessageServerHost : IAsyncDisposable
{
    private readonly Factory factory;

    private MessageServerHost(Factory factory)
    {
        this.factory = factory;
        // The server listens on every interface ([::]:port); clients reach it through loopback.
        var listening = new Uri(factory.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{listening.Port}") };
    }

    public HttpClient Client { get; }

    public Uri BaseAddress => Client.BaseAddress!;

    public IServiceProvider Services => factory.Services;

    /// <param name="configureServices">Services added after the server's own, e.g. an extra change-feed consumer.</param>
    public static async Task<MessageServerHost> StartAsync(
        IDictionary<string, string?> settings, bool waitUntilReady = true, Action<IServiceCollection>? configureServices = null)
    {
        var factory = new Factory(settings, configureServices);
        factory.UseKestrel();
        factory.StartServer();
        var host = new MessageServerHost(factory);
        if (waitUntilReady)
        {
            await host.WaitUntilReadyAsync();
        }
        return host;
    }

    public static Dictionary<string, string?> SqliteSettings(string directory) => new()
    {
        ["SQLITE_PATH"] = Path.Combine(directory, "nested", "messages.db"),
    };

    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            using var response = await Client.GetAsync("/ready");
            if (response.IsSuccessStatusCode)
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"The server did not become ready: {await response.Content.ReadAsStringAsync()}");
            }
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await factory.DisposeAsync();
    }

    private sealed class Factory(IDictionary<string, string?> settings, Action<IServiceCollection>? configureServices) : WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            // PORT=0 lets Kestrel pick a free port; tests then talk to it through the real socket.
            builder.UseSetting("PORT", "0");
            builder.UseSetting("POSTGRES_HOST", "");
            // Tests share one client address and publish far faster than a person; rate-limit tests turn it on.
            builder.UseSetting("RATE_LIMIT", "off");
            foreach (var (name, value) in settings)
            {
                builder.UseSetting(name, value);
            }
            if (configureServices is not null)
            {
                builder.ConfigureServices(configureServices);
            }
        }
    }
}
