using MessageServer.Tests.Infrastructure;
using Microsoft.Playwright;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Browser;

/// <summary>The web page in real headless Chromium against the real server.</summary>
public sealed class WebPageTests(BrowserFixture browser, PostgresServerFixture server) : IClassFixture<PostgresServerFixture>
{
    private static readonly LocatorAssertionsToHaveTextOptions Patient = new() { Timeout = 10_000 };

    private async Task<IPage> OpenAsync(Uri baseAddress, string topic)
    {
        var context = await browser.Browser.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync(new Uri(baseAddress, $"/#{topic}").ToString());
        await Assertions.Expect(page.Locator("#status")).ToHaveTextAsync("live", Patient);
        return page;
    }

    [Fact]
    public async Task A_message_posted_in_one_page_appears_live_in_another()
    {
        var topic = UniqueTopic();
        var writer = await OpenAsync(server.Host.BaseAddress, topic);
        var reader = await OpenAsync(server.Host.BaseAddress, topic);

        await writer.FillAsync("#author", "Ann");
        await writer.FillAsync("#text", "hello from the other tab");
        await writer.ClickAsync("#send");

        var message = reader.Locator(".message").Last;
        await Assertions.Expect(message.Locator(".text")).ToHaveTextAsync("hello from the other tab", Patient);
        await Assertions.Expect(message.Locator(".author")).ToHaveTextAsync("Ann");
        await Assertions.Expect(writer.Locator(".message")).ToHaveCountAsync(1);
    }

    [Fact]
    public async Task The_author_name_is_remembered_across_visits()
    {
        var topic = UniqueTopic();
        var page = await OpenAsync(server.Host.BaseAddress, topic);
        await page.FillAsync("#author", "Remembered Rita");
        await page.FillAsync("#text", "first");
        await page.ClickAsync("#send");
        await Assertions.Expect(page.Locator(".message")).ToHaveCountAsync(1);

        await page.ReloadAsync();

        await Assertions.Expect(page.Locator("#author")).ToHaveValueAsync("Remembered Rita");
    }

    [Fact]
    public async Task An_XSS_payload_shows_as_text_and_runs_no_script()
    {
        var topic = UniqueTopic();
        const string payload = "<img src=x onerror=\"window.pwned=1\"><script>window.pwned=2</script><b>bold?</b>";
        await server.Client.PublishAsync(topic, payload, "<i>mallory</i>");
        var page = await OpenAsync(server.Host.BaseAddress, topic);

        await server.Client.PublishAsync(topic, payload + " live");

        await Assertions.Expect(page.Locator(".message .text").First).ToHaveTextAsync(payload);
        await Assertions.Expect(page.Locator(".message .text").Last).ToHaveTextAsync(payload + " live", Patient);
        await Assertions.Expect(page.Locator(".message .author").First).ToHaveTextAsync("<i>mallory</i>");
        Assert.Equal(0, await page.Locator(".message img, .message script, .message b, .message i").CountAsync());
        Assert.Equal("undefined", await page.EvaluateAsync<string>("typeof window.pwned"));
    }

    [Fact]
    public async Task A_deleted_message_vanishes_from_other_pages()
    {
        var topic = UniqueTopic();
        await server.Client.PublishAsync(topic, "keep me");
        var doomed = await server.Client.PublishAsync(topic, "delete me");
        var page = await OpenAsync(server.Host.BaseAddress, topic);
        await Assertions.Expect(page.Locator(".message")).ToHaveCountAsync(2);

        using var response = await server.Client.DeleteAsync($"/api/messages/{doomed.Id}");

        await Assertions.Expect(page.Locator(".message")).ToHaveCountAsync(1, new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator(".message .text")).ToHaveTextAsync("keep me");
    }

    [Fact]
    public async Task A_rejected_post_shows_the_servers_explanation()
    {
        var page = await OpenAsync(server.Host.BaseAddress, UniqueTopic());

        // The input's maxlength stops people; a script (or an old page) might not, and the server must say why.
        await page.EvaluateAsync("document.getElementById('author').removeAttribute('maxlength')");
        await page.FillAsync("#author", new string('n', 70));
        await page.FillAsync("#text", "too long a name");
        await page.ClickAsync("#send");

        await Assertions.Expect(page.Locator("#error")).ToContainTextAsync("author must be 1 to 64 characters", new() { Timeout = 10_000 });
        await Assertions.Expect(page.Locator(".message")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task A_search_highlights_the_matched_words_and_a_match_opens_its_topic_at_that_message()
    {
        var word = "Zebra" + Guid.NewGuid().ToString("N")[..8].Replace('0', 'q');
        var topic = UniqueTopic("found");
        await server.Client.PublishAsync(topic, "before the match");
        var match = await server.Client.PublishAsync(topic, $"the café near {word} opens at nine");
        // Enough newer messages that the match is not on the topic's latest page.
        for (var i = 0; i < 60; i++)
        {
            await server.Client.PublishAsync(topic, $"later message {i}");
        }
        var page = await OpenAsync(server.Host.BaseAddress, UniqueTopic("elsewhere"));

        await page.FillAsync("#search", $"{word.ToLowerInvariant()} cafe");
        await page.PressAsync("#search", "Enter");

        var result = page.Locator(".result");
        await Assertions.Expect(result).ToHaveCountAsync(1, new() { Timeout = 10_000 });
        await Assertions.Expect(result.Locator(".topic")).ToHaveTextAsync(topic);
        await Assertions.Expect(result.Locator(".text")).ToHaveTextAsync(match.Text);
        await Assertions.Expect(result.Locator(".text mark")).ToHaveTextAsync(["café", word]);

        await result.ClickAsync();

        await Assertions.Expect(page.Locator("#topic")).ToHaveValueAsync(topic);
        var focused = page.Locator(".message.focused");
        await Assertions.Expect(focused.Locator(".text")).ToHaveTextAsync(match.Text, Patient);
        await Assertions.Expect(focused).ToBeInViewportAsync();
        await Assertions.Expect(page.Locator(".gap")).ToHaveCountAsync(1);
        await Assertions.Expect(page.Locator("#search-results")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Search_results_show_HTML_as_text_and_run_no_script()
    {
        var word = "xss" + Guid.NewGuid().ToString("N")[..8].Replace('0', 'q');
        var payload = $"<img src=x onerror=\"window.pwned=1\"><b>{word}</b><script>window.pwned=2</script>";
        await server.Client.PublishAsync(UniqueTopic(), payload, "<i>mallory</i>");
        var page = await OpenAsync(server.Host.BaseAddress, UniqueTopic());

        await page.FillAsync("#search", word);
        await page.PressAsync("#search", "Enter");

        var text = page.Locator(".result .text");
        await Assertions.Expect(text).ToHaveTextAsync(payload, Patient);
        await Assertions.Expect(text.Locator("mark")).ToHaveTextAsync(word);
        Assert.Equal(0, await page.Locator(".result img, .result script, .result b, .result i").CountAsync());
        Assert.Equal("undefined", await page.EvaluateAsync<string>("typeof window.pwned"));
    }

    [Fact]
    public async Task The_page_fits_a_phone_screen_without_sideways_scrolling()
    {
        var context = await browser.Browser.NewContextAsync(new() { ViewportSize = new() { Width = 375, Height = 700 } });
        var page = await context.NewPageAsync();
        var topic = UniqueTopic();
        await server.Client.PublishAsync(topic, new string('w', 300) + " a very long unbroken word above");
        await page.GotoAsync(new Uri(server.Host.BaseAddress, $"/#{topic}").ToString());
        await Assertions.Expect(page.Locator(".message")).ToHaveCountAsync(1, new() { Timeout = 10_000 });

        var overflow = await page.EvaluateAsync<int>("document.documentElement.scrollWidth - document.documentElement.clientWidth");

        Assert.True(overflow <= 0, $"The page is {overflow}px wider than a phone screen");
        Assert.True(await page.Locator("#send").IsVisibleAsync());
    }
}
