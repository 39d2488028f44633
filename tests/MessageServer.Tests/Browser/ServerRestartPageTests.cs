using MessageServer.Tests.Infrastructure;
using Microsoft.Playwright;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Browser;

public sealed class ServerRestartPageTests(BrowserFixture browser)
{
    [Fact]
    public async Task The_page_shows_reconnecting_while_the_server_restarts_then_goes_live_again_without_missing_or_doubling()
    {
        using var directory = new TemporaryDirectory("ms-restart-");
        var settings = MessageServerHost.SqliteSettings(directory.FullName);
        var port = PostgresServer.FreePort();
        var topic = UniqueTopic();
        var server = await ServerProcess.StartAsync(settings, port);
        try
        {
            var before = await server.Client.PublishAsync(topic, "before the restart");
            var page = await (await browser.Browser.NewContextAsync()).NewPageAsync();
            await page.GotoAsync($"{server.BaseAddress}#{topic}");
            await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", new() { Timeout = 10_000 });

            Assert.Equal(0, await server.TerminateAsync(TimeSpan.FromSeconds(10)));
            await server.DisposeAsync();
            await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("reconnecting", new() { Timeout = 10_000 });

            server = await ServerProcess.StartAsync(settings, port);
            var after = await server.Client.PublishAsync(topic, "after the restart");

            await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", new() { Timeout = 15_000 });
            await Assertions.Expect(page.Locator(".message .text")).ToHaveTextAsync(["before the restart", "after the restart"], new() { Timeout = 15_000 });
            Assert.True(after.Id > before.Id);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
