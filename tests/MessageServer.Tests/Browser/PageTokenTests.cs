using MessageServer.Security;
using MessageServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Browser;

/// <summary>The page on a server that needs tokens (AUTH_DEFAULT_ACCESS=none): where it keeps the token and how it sends it.</summary>
public sealed class PageTokenTests(BrowserFixture browser, PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly LocatorAssertionsToHaveTextOptions Patient = new() { Timeout = 10_000 };

    private MessageServerHost? host;

    private MessageServerHost Host => host!;

    public async ValueTask InitializeAsync()
    {
        var settings = postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
        settings["AUTH_DEFAULT_ACCESS"] = "none";
        host = await MessageServerHost.StartAsync(settings);
    }

    public async ValueTask DisposeAsync()
    {
        if (host is not null)
        {
            await host.DisposeAsync();
        }
    }

    private async Task<string> CreateTokenAsync(string name)
    {
        var token = TokenSecrets.NewToken();
        Assert.True(await Host.Services.GetRequiredService<ITokenStore>().CreateTokenAsync(name, TokenSecrets.HashHex(token), "*", "*", CancellationToken.None));
        return token;
    }

    private async Task<IPage> OpenAsync(IBrowserContext context, string topic)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(Host.BaseAddress, $"/#{topic}").ToString());
        return page;
    }

    private static async Task EnterTokenAsync(IPage page, string token, bool remember)
    {
        await page.ClickAsync("details.token summary");
        if (remember)
        {
            await page.CheckAsync("#remember-token");
        }
        await page.FillAsync("#token", token);
        await page.Locator("#token").DispatchEventAsync("change");
    }

    [Fact]
    public async Task The_token_is_kept_for_the_tab_only_unless_remember_on_this_device_is_ticked()
    {
        var token = await CreateTokenAsync("tab-only");
        var context = await browser.Browser.NewContextAsync();
        var topic = UniqueTopic();
        var page = await OpenAsync(context, topic);

        await EnterTokenAsync(page, token, remember: false);
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", Patient);
        var inLocalStorage = await page.EvaluateAsync<bool>("token => Object.values(localStorage).some(v => v.includes(token))", token);
        var inSessionStorage = await page.EvaluateAsync<bool>("token => Object.values(sessionStorage).some(v => v.includes(token))", token);
        var otherTab = await OpenAsync(context, topic);

        Assert.False(inLocalStorage, "the token must not outlive the tab unless asked to");
        Assert.True(inSessionStorage);
        await Assertions.Expect(otherTab.Locator("#token")).ToHaveValueAsync("");
    }

    [Fact]
    public async Task Remember_on_this_device_keeps_the_token_for_new_tabs()
    {
        var token = await CreateTokenAsync("remembered");
        var context = await browser.Browser.NewContextAsync();
        var topic = UniqueTopic();
        var page = await OpenAsync(context, topic);

        await EnterTokenAsync(page, token, remember: true);
        var otherTab = await OpenAsync(context, topic);

        await Assertions.Expect(otherTab.Locator("#token")).ToHaveValueAsync(token);
        await Assertions.Expect(otherTab.Locator("#remember-token")).ToBeCheckedAsync();
        await Assertions.Expect(otherTab.Locator("#status")).ToHaveTextAsync("live", Patient);
    }

    [Fact]
    public async Task The_stream_sends_the_token_in_the_Authorization_header_and_never_in_a_URL()
    {
        var token = await CreateTokenAsync("header-only");
        var context = await browser.Browser.NewContextAsync();
        var topic = UniqueTopic();
        var requests = new List<IRequest>();
        context.Request += (_, request) => requests.Add(request);
        var page = await OpenAsync(context, topic);

        await EnterTokenAsync(page, token, remember: false);
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", Patient);
        using var publish = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages")
        {
            Content = new StringContent("""{"text": "live with a header"}""", System.Text.Encoding.UTF8, "application/json"),
        };
        publish.Headers.Authorization = new("Bearer", token);
        using var published = await Host.Client.SendAsync(publish);
        await Assertions.Expect(page.Locator(".message .text").Last).ToHaveTextAsync("live with a header", Patient);

        var stream = requests.Last(r => r.Url.Contains("/stream", StringComparison.Ordinal));
        Assert.Equal($"Bearer {token}", (await stream.AllHeadersAsync())["authorization"]);
        Assert.DoesNotContain(requests, r => r.Url.Contains("access_token", StringComparison.Ordinal) || r.Url.Contains(token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_revoked_token_stops_the_stream_and_the_page_says_why_instead_of_reconnecting()
    {
        var token = await CreateTokenAsync("doomed");
        var context = await browser.Browser.NewContextAsync();
        var streams = 0;
        context.Request += (_, request) =>
        {
            if (request.Url.Contains("/stream", StringComparison.Ordinal))
            {
                Interlocked.Increment(ref streams);
            }
        };
        var page = await OpenAsync(context, UniqueTopic());
        await EnterTokenAsync(page, token, remember: false);
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", Patient);

        Assert.True(await Host.Services.GetRequiredService<ITokenStore>().RevokeTokenAsync("doomed", CancellationToken.None));

        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("revoked", new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("offline");
        var streamsWhenStopped = Volatile.Read(ref streams);
        await Task.Delay(TimeSpan.FromSeconds(5));
        Assert.Equal(streamsWhenStopped, Volatile.Read(ref streams));
    }
}
