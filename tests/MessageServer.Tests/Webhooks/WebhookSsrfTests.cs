using System.Net;
using System.Net.Http.Json;
using MessageServer.Tests.Infrastructure;
using MessageServer.Webhooks;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Webhooks;

/// <summary>
/// Webhooks cannot be aimed at the server's own network (SSRF): with the default settings every one of these
/// targets is refused with a 422 that says why, and every connection is checked again on the addresses it goes to.
/// </summary>
public sealed class WebhookSsrfTests(SqliteServerFixture server) : IClassFixture<SqliteServerFixture>
{
    [Theory]
    [InlineData("http://127.0.0.1/hook", "loopback")]
    [InlineData("http://127.8.9.10:8080/hook", "loopback")]
    [InlineData("http://localhost:5002/hook", "loopback")] // a DNS name resolving to a private address
    [InlineData("http://10.1.2.3/hook", "private")]
    [InlineData("http://172.16.0.1/hook", "private")]
    [InlineData("http://172.31.255.255/hook", "private")]
    [InlineData("http://192.168.1.1/hook", "private")]
    [InlineData("http://100.64.0.1/hook", "carrier-grade NAT")]
    [InlineData("http://169.254.169.254/latest/meta-data/", "link-local")]
    [InlineData("http://0.0.0.0/hook", "unspecified")]
    [InlineData("http://224.0.0.1/hook", "multicast")]
    [InlineData("http://255.255.255.255/hook", "broadcast")]
    [InlineData("http://[::1]/hook", "loopback")]
    [InlineData("http://[::]/hook", "unspecified")]
    [InlineData("http://[::ffff:127.0.0.1]/hook", "loopback")]
    [InlineData("http://[::ffff:169.254.169.254]/hook", "link-local")]
    [InlineData("http://[fd00::1]/hook", "private")]
    [InlineData("http://[fe80::1]/hook", "link-local")]
    [InlineData("http://[ff02::1]/hook", "multicast")]
    [InlineData("http://[64:ff9b::a00:1]/hook", "private")] // NAT64 of 10.0.0.1
    [InlineData("http://[2002:7f00:1::]/hook", "loopback")] // 6to4 of 127.0.0.1
    [InlineData("http://2130706433/hook", "loopback")] // decimal 127.0.0.1
    [InlineData("http://0177.0.0.1/hook", "loopback")] // octal
    [InlineData("http://0x7f.0.0.1/hook", "loopback")] // hexadecimal
    [InlineData("http://127.1/hook", "loopback")] // shortened
    [InlineData("http://017700000001/hook", "loopback")] // octal, whole
    [InlineData("file:///etc/passwd", "http or https")]
    [InlineData("ftp://example.com/hook", "http or https")]
    [InlineData("gopher://example.com/", "http or https")]
    [InlineData("http://user:password@example.com/hook", "user info")]
    [InlineData("https://token@example.com/hook", "user info")]
    public async Task Creating_a_webhook_for_a_refused_target_is_a_422_naming_why(string url, string reason)
    {
        var topic = UniqueTopic("ssrf");
        using var response = await server.Client.PostWebhookAsync(topic, new { url });

        var problem = await AssertProblemAsync(response, HttpStatusCode.UnprocessableEntity, "url");
        Assert.Contains(reason, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var list = await server.Client.GetAsync($"/api/topics/{topic}/webhooks");
        Assert.Equal("""{"webhooks":[]}""", await list.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("http://93.184.215.14/hook")]
    [InlineData("https://[2606:4700::1111]/hook")]
    [InlineData("https://203.1.113.9:8443/path?query=1")]
    public async Task Public_addresses_are_accepted(string url)
    {
        using var response = await server.Client.PostWebhookAsync(UniqueTopic("ssrf"), new { url });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task Every_connection_is_checked_on_the_address_it_goes_to_whatever_the_name_resolved_to_before()
    {
        // As after DNS rebinding: the name now resolves to a loopback address, where a receiver listens.
        await using var receiver = await WebhookReceiver.StartAsync();
        var targets = new WebhookTargets(allowPrivate: false);
        using var client = new HttpClient(new SocketsHttpHandler { ConnectCallback = targets.ConnectAsync, UseProxy = false });
        var url = receiver.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => client.PostAsJsonAsync(url, new { id = 1 }));

        Assert.IsType<TargetRefusedException>(refused.InnerException ?? refused);
        Assert.Contains("loopback", refused.InnerException!.Message, StringComparison.Ordinal);
        Assert.Empty(receiver.Received);
    }

    [Fact]
    public async Task With_WEBHOOK_ALLOW_PRIVATE_the_same_connection_goes_through()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var targets = new WebhookTargets(allowPrivate: true);
        using var client = new HttpClient(new SocketsHttpHandler { ConnectCallback = targets.ConnectAsync, UseProxy = false });

        using var response = await client.PostAsJsonAsync(receiver.Url.Replace("127.0.0.1", "localhost", StringComparison.Ordinal), new { id = 1 });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Single(receiver.Received);
    }

    [Theory]
    [InlineData("8.8.8.8", true)]
    [InlineData("2606:4700::1111", true)]
    [InlineData("::ffff:8.8.8.8", true)]
    [InlineData("64:ff9b::808:808", true)]
    [InlineData("127.0.0.1", false)]
    [InlineData("::ffff:10.0.0.1", false)]
    [InlineData("::127.0.0.1", false)]
    [InlineData("2001:db8::1", false)]
    [InlineData("fec0::1", false)]
    [InlineData("198.18.0.1", false)]
    public void Addresses_are_judged_by_the_network_they_belong_to(string address, bool allowed)
    {
        Assert.Equal(allowed, WebhookTargets.Refusal(IPAddress.Parse(address)) is null);
    }
}
