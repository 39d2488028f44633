using System.Net;
using MessageServer.Tests.Infrastructure;

namespace MessageServer.Tests.Operations;

/// <summary>The server as a service manager or a wrapper script starts it: from some other working directory.</summary>
public sealed class InstalledLayoutTests
{
    [Fact]
    public async Task Started_from_another_working_directory_the_server_still_serves_its_page_and_keeps_data_where_it_was_told()
    {
        using var elsewhere = new TemporaryDirectory("ms-cwd-");
        await using var server = await ServerProcess.StartAsync(
            new Dictionary<string, string?> { ["SQLITE_PATH"] = "relative/messages.db" }, workingDirectory: elsewhere.FullName);
        using var http = new HttpClient { BaseAddress = server.BaseAddress };

        using var page = await http.GetAsync("/");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.True(File.Exists(Path.Combine(elsewhere.FullName, "relative", "messages.db")));
    }
}
