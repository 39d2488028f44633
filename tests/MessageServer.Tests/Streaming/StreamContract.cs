using System.Net;
using System.Text.Json;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Streaming;

/// <summary>The live stream's contract, run once per storage mode (subclasses at the end).</summary>
public abstract class StreamContract(ServerFixture server)
{
    private HttpClient Client => server.Client;

    private Task<SseClient> ConnectAsync(string topic, string query = "", string? lastEventId = null) =>
        SseClient.ConnectAsync(server.Host.BaseAddress, $"/api/topics/{topic}/stream{query}", lastEventId);

    [Fact]
    public async Task The_stream_opens_at_once_with_event_stream_headers_before_any_message()
    {
        // ConnectAsync waits only for the response headers: no message is ever published to this topic.
        await using var stream = await ConnectAsync(UniqueTopic());

        Assert.True(stream.Response.Headers.CacheControl?.NoCache);
    }

    [Fact]
    public async Task A_published_message_arrives_as_one_event_with_its_id_and_the_REST_json()
    {
        var topic = UniqueTopic();
        await using var stream = await ConnectAsync(topic);

        var published = await Client.PublishAsync(topic, "live <b>one</b> 🎉", "ann");
        var received = await stream.NextAsync();

        Assert.Equal(("message", published.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)), (received.Event, received.Id));
        Assert.Equal(published, JsonSerializer.Deserialize<MessageDto>(received.Data, Json.Web));
    }

    [Fact]
    public async Task Without_a_cursor_only_new_messages_are_sent()
    {
        var topic = UniqueTopic();
        await Client.PublishAsync(topic, "old");
        await using var stream = await ConnectAsync(topic);

        var fresh = await Client.PublishAsync(topic, "new");

        Assert.Equal([fresh.Id], (await stream.ReadMessagesAsync(1)).Select(m => m.Id));
        Assert.True(await stream.StaysQuietAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task Last_Event_ID_replays_every_newer_message_in_order_then_continues_live()
    {
        var topic = UniqueTopic();
        var old = new List<MessageDto>();
        for (var i = 0; i < 4; i++)
        {
            old.Add(await Client.PublishAsync(topic, $"old {i}"));
        }

        await using var stream = await ConnectAsync(topic, lastEventId: old[0].Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var live = await Client.PublishAsync(topic, "live");

        var received = await stream.ReadMessagesAsync(4);
        Assert.Equal(old.Skip(1).Select(m => m.Id).Append(live.Id), received.Select(m => m.Id));
        Assert.True(await stream.StaysQuietAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Fact]
    public async Task The_after_parameter_resumes_like_Last_Event_ID()
    {
        var topic = UniqueTopic();
        var first = await Client.PublishAsync(topic, "one");
        var second = await Client.PublishAsync(topic, "two");

        await using var stream = await ConnectAsync(topic, $"?after={first.Id}");

        Assert.Equal([second.Id], (await stream.ReadMessagesAsync(1)).Select(m => m.Id));
    }

    [Fact]
    public async Task Last_Event_ID_wins_over_after_so_a_browser_reconnect_resumes_where_it_stopped()
    {
        var topic = UniqueTopic();
        var first = await Client.PublishAsync(topic, "one");
        var second = await Client.PublishAsync(topic, "two");
        var third = await Client.PublishAsync(topic, "three");

        await using var stream = await ConnectAsync(topic, $"?after={first.Id}", second.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        Assert.Equal([third.Id], (await stream.ReadMessagesAsync(1)).Select(m => m.Id));
    }

    [Fact]
    public async Task A_deleted_message_emits_a_deleted_event_with_its_id()
    {
        var topic = UniqueTopic();
        var message = await Client.PublishAsync(topic, "short-lived");
        await using var stream = await ConnectAsync(topic);

        using var deleted = await Client.DeleteAsync($"/api/messages/{message.Id}");
        var received = await stream.NextAsync();

        Assert.Equal(("deleted", message.Id), (received.Event, JsonDocument.Parse(received.Data).RootElement.GetProperty("id").GetInt64()));
    }

    [Fact]
    public async Task An_idle_stream_gets_comment_heartbeats()
    {
        await using var stream = await ConnectAsync(UniqueTopic());
        var atStart = stream.CommentCount;

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (stream.CommentCount < atStart + 2 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }

        Assert.True(stream.CommentCount >= atStart + 2, $"heartbeats seen: {stream.CommentCount - atStart}");
    }

    [Fact]
    public async Task Resuming_while_others_publish_gives_every_later_message_once_in_order()
    {
        var topic = UniqueTopic();
        var seed = await Client.PublishAsync(topic, "seed");
        var publishing = Task.WhenAll(Enumerable.Range(0, 8).Select(async worker =>
        {
            var ids = new List<long>();
            for (var i = 0; i < 25; i++)
            {
                ids.Add((await Client.PublishAsync(topic, $"w{worker} m{i}")).Id);
            }
            return ids;
        }));
        await Task.Delay(20);

        await using var stream = await ConnectAsync(topic, lastEventId: seed.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var published = (await publishing).SelectMany(ids => ids).Order().ToList();
        var received = await stream.ReadMessagesAsync(200);

        Assert.Equal(published, received.Select(m => m.Id));
        Assert.True(await stream.StaysQuietAsync(TimeSpan.FromMilliseconds(300)));
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("1.5")]
    public async Task An_invalid_Last_Event_ID_returns_400_naming_it(string lastEventId)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/topics/{UniqueTopic()}/stream");
        request.Headers.Add("Last-Event-ID", lastEventId);

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "Last-Event-ID");
    }

    [Fact]
    public async Task Resuming_with_Last_Event_ID_reports_deletes_made_while_away_then_the_new_messages()
    {
        var topic = UniqueTopic();
        var deletedWhileAway = await Client.PublishAsync(topic, "seen, then deleted while away");
        var kept = await Client.PublishAsync(topic, "seen, kept");
        using (var delete = await Client.DeleteAsync($"/api/messages/{deletedWhileAway.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }
        var fresh = await Client.PublishAsync(topic, "published while away");

        await using var stream = await ConnectAsync(topic, lastEventId: kept.Id.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var deleted = await stream.NextAsync();
        Assert.Equal(("deleted", deletedWhileAway.Id), (deleted.Event, JsonDocument.Parse(deleted.Data).RootElement.GetProperty("id").GetInt64()));
        Assert.Equal([fresh.Id], (await stream.ReadMessagesAsync(1)).Select(m => m.Id));
    }

    [Fact]
    public async Task Resuming_with_after_reports_deletes_made_while_away_too()
    {
        var topic = UniqueTopic();
        var deletedWhileAway = await Client.PublishAsync(topic, "seen, then deleted while away");
        using (var delete = await Client.DeleteAsync($"/api/messages/{deletedWhileAway.Id}"))
        {
            Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        }

        await using var stream = await ConnectAsync(topic, $"?after={deletedWhileAway.Id}");

        var deleted = await stream.NextAsync();
        Assert.Equal(("deleted", deletedWhileAway.Id), (deleted.Event, JsonDocument.Parse(deleted.Data).RootElement.GetProperty("id").GetInt64()));
    }

    [Fact]
    public async Task An_invalid_after_returns_400_naming_it()
    {
        using var response = await Client.GetAsync($"/api/topics/{UniqueTopic()}/stream?after=x");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "after");
    }

    [Fact]
    public async Task Streaming_an_invalid_topic_returns_400_naming_topic()
    {
        using var response = await Client.GetAsync("/api/topics/no.dots/stream");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "topic");
    }
}

public sealed class SqliteStreamTests(SqliteServerFixture server) : StreamContract(server), IClassFixture<SqliteServerFixture>;

public sealed class PostgresStreamTests(PostgresServerFixture server) : StreamContract(server), IClassFixture<PostgresServerFixture>;
