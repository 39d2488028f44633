using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using MessageServer.Tests.Infrastructure;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.Messages;

/// <summary>
/// The HTTP contract of the message API. It runs once per storage mode (see the subclasses at the end),
/// so PostgreSQL and SQLite are held to exactly the same behaviour.
/// </summary>
public abstract class MessageApiContract(ServerFixture server)
{
    private HttpClient Client => server.Client;

    [Fact]
    public async Task Publishing_json_returns_201_with_location_and_the_stored_message()
    {
        var topic = UniqueTopic();
        using var response = await Client.PostJsonAsync(topic, """{"text": "hello", "author": "ann"}""");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var message = await response.Content.ReadFromJsonAsync<MessageDto>();
        Assert.NotNull(message);
        Assert.Equal($"/api/messages/{message.Id}", response.Headers.Location?.OriginalString);
        Assert.Equal((topic, "ann", "hello"), (message.Topic, message.Author, message.Text));
    }

    [Fact]
    public async Task Publishing_plain_text_stores_the_body_as_text_and_X_Author_as_author()
    {
        var topic = UniqueTopic();
        using var response = await Client.PostRawAsync(topic, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes("disk full on web-1\n"), author: "cron");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var message = await response.Content.ReadFromJsonAsync<MessageDto>();
        Assert.Equal(("disk full on web-1\n", "cron"), (message!.Text, message.Author));
    }

    [Fact]
    public async Task Author_defaults_to_anonymous_and_is_trimmed()
    {
        var topic = UniqueTopic();
        var anonymous = await Client.PublishAsync(topic, "no author");
        var trimmed = await Client.PublishAsync(topic, "padded author", "  bob  ");

        Assert.Equal(("anonymous", "bob"), (anonymous.Author, trimmed.Author));
    }

    [Fact]
    public async Task CreatedAt_is_utc_iso_8601_with_microseconds()
    {
        var before = DateTime.UtcNow.AddSeconds(-5);
        var message = await Client.PublishAsync(UniqueTopic(), "time");

        Assert.Matches(@"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$", message.CreatedAt);
        var createdAt = DateTime.Parse(message.CreatedAt, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal);
        Assert.InRange(createdAt, before, DateTime.UtcNow.AddSeconds(5));
    }

    [Fact]
    public async Task Ids_increase_with_publish_order()
    {
        var topic = UniqueTopic();
        var first = await Client.PublishAsync(topic, "one");
        var second = await Client.PublishAsync(topic, "two");
        var third = await Client.PublishAsync(UniqueTopic(), "three elsewhere");

        Assert.True(first.Id < second.Id && second.Id < third.Id, $"{first.Id} < {second.Id} < {third.Id}");
    }

    [Fact]
    public async Task Reading_a_message_by_id_returns_it()
    {
        var published = await Client.PublishAsync(UniqueTopic(), "find me", "ann");

        var read = await Client.GetFromJsonAsync<MessageDto>($"/api/messages/{published.Id}");

        Assert.Equal(published, read);
    }

    [Theory]
    [InlineData("999999999999")]
    [InlineData("abc")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("99999999999999999999999")]
    public async Task Reading_an_unknown_message_returns_404_problem(string id)
    {
        using var response = await Client.GetAsync($"/api/messages/{id}");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Deleting_a_message_returns_204_and_removes_it()
    {
        var topic = UniqueTopic();
        var published = await Client.PublishAsync(topic, "delete me");

        using var deleted = await Client.DeleteAsync($"/api/messages/{published.Id}");
        using var readAfter = await Client.GetAsync($"/api/messages/{published.Id}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await AssertProblemAsync(readAfter, HttpStatusCode.NotFound);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Theory]
    [InlineData("999999999999")]
    [InlineData("nope")]
    public async Task Deleting_an_unknown_message_returns_404_problem(string id)
    {
        using var response = await Client.DeleteAsync($"/api/messages/{id}");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Listing_without_a_cursor_returns_the_latest_limit_in_ascending_order()
    {
        var topic = UniqueTopic();
        var published = await PublishManyAsync(topic, 7);

        var page = await Client.ListAsync(topic, "?limit=3");

        Assert.Equal(published.Skip(4).Select(m => m.Id), page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_defaults_to_the_latest_50()
    {
        var topic = UniqueTopic();
        var published = await PublishManyAsync(topic, 55);

        var page = await Client.ListAsync(topic);

        Assert.Equal(published.Skip(5).Select(m => m.Id), page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_after_an_id_returns_the_first_limit_above_it()
    {
        var topic = UniqueTopic();
        var published = await PublishManyAsync(topic, 6);

        var page = await Client.ListAsync(topic, $"?after={published[1].Id}&limit=2");

        Assert.Equal(published.Skip(2).Take(2).Select(m => m.Id), page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_before_an_id_returns_the_last_limit_below_it_in_ascending_order()
    {
        var topic = UniqueTopic();
        var published = await PublishManyAsync(topic, 6);

        var page = await Client.ListAsync(topic, $"?before={published[4].Id}&limit=3");

        Assert.Equal(published.Skip(1).Take(3).Select(m => m.Id), page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_with_after_and_before_returns_the_range_between_them()
    {
        var topic = UniqueTopic();
        var published = await PublishManyAsync(topic, 6);

        var page = await Client.ListAsync(topic, $"?after={published[0].Id}&before={published[4].Id}");

        Assert.Equal(published.Skip(1).Take(3).Select(m => m.Id), page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_only_returns_the_requested_topic()
    {
        var topic = UniqueTopic();
        var mine = await Client.PublishAsync(topic, "mine");
        await Client.PublishAsync(UniqueTopic(), "someone else's");

        var page = await Client.ListAsync(topic);

        Assert.Equal([mine.Id], page.Select(m => m.Id));
    }

    [Fact]
    public async Task Listing_an_empty_topic_returns_an_empty_list()
    {
        Assert.Empty(await Client.ListAsync(UniqueTopic()));
    }

    [Fact]
    public async Task Listing_accepts_the_largest_limit_of_200()
    {
        var topic = UniqueTopic();
        await PublishManyAsync(topic, 3);

        Assert.Equal(3, (await Client.ListAsync(topic, "?limit=200")).Count);
    }

    [Fact]
    public async Task Topics_lists_each_topic_with_its_count_and_last_message_time()
    {
        var topic = UniqueTopic();
        await Client.PublishAsync(topic, "one");
        var last = await Client.PublishAsync(topic, "two");

        var topics = await Client.GetFromJsonAsync<TopicListDto>("/api/topics");

        var summary = Assert.Single(topics!.Topics, t => t.Name == topic);
        Assert.Equal((2L, last.CreatedAt), (summary.MessageCount, summary.LastMessageAt));
    }

    public static TheoryData<string> ExactTexts() =>
    [
        "plain ascii",
        "emoji 🎉🚀 and flags 🇳🇱 and a family 👨‍👩‍👧‍👦",
        "中文 日本語 한국어",
        "العربية עברית (right to left)",
        "quotes ' \" ` and backslash \\ and slash /",
        "<script>alert('xss')</script>",
        "'; DROP TABLE messages; --",
        "$1 $2 :name @p0 ? %s {0}",
        "line one\nline two\r\nline three\ttabbed",
        "  leading and trailing spaces  ",
        "control \u0001\u001f and DEL \u007f",
        "combining e\u0301 and zero width \u200b joiner",
        new string('x', 4000),
        string.Concat(Enumerable.Repeat("😀", 2000)),
    ];

    [Theory]
    [MemberData(nameof(ExactTexts))]
    public async Task Text_round_trips_exactly_as_sent(string text)
    {
        var topic = UniqueTopic();
        var published = await Client.PublishAsync(topic, text, "ünïcødé 名前");

        var read = await Client.GetFromJsonAsync<MessageDto>($"/api/messages/{published.Id}");
        var listed = Assert.Single(await Client.ListAsync(topic));

        Assert.Equal((text, "ünïcødé 名前"), (read!.Text, read.Author));
        Assert.Equal(text, listed.Text);
    }

    [Fact]
    public async Task Two_hundred_concurrent_publishes_are_all_acknowledged_with_distinct_ids_and_listed()
    {
        var topic = UniqueTopic();

        var published = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Client.PublishAsync(topic, $"message {i}")));
        var listed = await Client.ListAsync(topic, "?limit=200");

        Assert.Equal(200, published.Select(m => m.Id).Distinct().Count());
        Assert.Equal(published.Select(m => m.Id).Order(), listed.Select(m => m.Id));
        Assert.Equal(published.Select(m => m.Text).Order(StringComparer.Ordinal), listed.Select(m => m.Text).Order(StringComparer.Ordinal));
    }

    public static TheoryData<string, string, string> InvalidJsonBodies() => new()
    {
        { """{"author": "ann"}""", "text", "missing text" },
        { """{"text": null}""", "text", "null text" },
        { """{"text": ""}""", "text", "empty text" },
        { """{"text": "   \n\t "}""", "text", "blank text" },
        { $$"""{"text": "{{new string('x', 4001)}}"}""", "text", "text of 4001 characters" },
        { """{"text": 42}""", "text", "number text" },
        { """{"text": ["a"]}""", "text", "array text" },
        { """{"text": {"a": 1}}""", "text", "object text" },
        { """{"text": true}""", "text", "boolean text" },
        { """{"text": "nul \u0000 inside"}""", "text", "NUL in text" },
        { """{"text": "lone \ud800 surrogate"}""", "text", "lone surrogate in text" },
        { """{"text": "ok", "author": 7}""", "author", "number author" },
        { """{"text": "ok", "author": ["a"]}""", "author", "array author" },
        { """{"text": "ok", "author": ""}""", "author", "empty author" },
        { """{"text": "ok", "author": "    "}""", "author", "blank author" },
        { $$"""{"text": "ok", "author": "{{new string('a', 65)}}"}""", "author", "author of 65 characters" },
        { """{"text": "ok", "author": "tab\there"}""", "author", "control character in author" },
    };

    [Theory]
    [MemberData(nameof(InvalidJsonBodies))]
    public async Task Publishing_an_invalid_field_returns_400_naming_it_and_stores_nothing(string body, string field, string because)
    {
        var topic = UniqueTopic();

        using var response = await Client.PostJsonAsync(topic, body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
        Assert.True((await Client.ListAsync(topic)).Count == 0, because);
    }

    [Theory]
    [InlineData("{\"text\": \"unterminated")]
    [InlineData("{text: 'single quotes'}")]
    [InlineData("[]")]
    [InlineData("[{\"text\": \"in an array\"}]")]
    [InlineData("null")]
    [InlineData("\"just a string\"")]
    [InlineData("12")]
    [InlineData("")]
    [InlineData("{\"text\": \"ok\"} trailing")]
    public async Task Publishing_a_body_that_is_not_a_json_object_returns_400_and_stores_nothing(string body)
    {
        var topic = UniqueTopic();

        using var response = await Client.PostJsonAsync(topic, body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Fact]
    public async Task Publishing_deeply_nested_json_returns_400()
    {
        var body = "{\"text\": \"ok\", \"extra\": " + new string('[', 5000) + new string(']', 5000) + "}";

        using var response = await Client.PostJsonAsync(UniqueTopic(), body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("text/plain")]
    public async Task Publishing_invalid_utf8_returns_400_and_stores_nothing(string contentType)
    {
        var topic = UniqueTopic();
        byte[] body = contentType == "text/plain" ? [0x68, 0xC3, 0x28, 0xFF] : [.. "{\"text\": \""u8, 0xC3, 0x28, 0xFF, .. "\"}"u8];

        using var response = await Client.PostRawAsync(topic, contentType, body);

        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Theory]
    [InlineData("", "text")]
    [InlineData("   ", "text")]
    public async Task Publishing_blank_plain_text_returns_400_naming_text(string body, string field)
    {
        using var response = await Client.PostRawAsync(UniqueTopic(), "text/plain", Encoding.UTF8.GetBytes(body));

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task Publishing_plain_text_with_a_blank_X_Author_returns_400_naming_author()
    {
        using var response = await Client.PostRawAsync(UniqueTopic(), "text/plain", "hi"u8.ToArray(), author: "  ");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "author");
    }

    [Theory]
    [InlineData(65 * 1024, "application/json")]
    [InlineData(65 * 1024, "text/plain")]
    [InlineData(1024 * 1024, "text/plain")]
    public async Task Publishing_a_body_over_64_KiB_returns_413_and_stores_nothing(int size, string contentType)
    {
        var topic = UniqueTopic();

        using var response = await Client.PostRawAsync(topic, contentType, Encoding.UTF8.GetBytes(new string('a', size)));

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Fact]
    public async Task Publishing_a_chunked_body_over_64_KiB_returns_413()
    {
        var topic = UniqueTopic();
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages")
        {
            Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(new string('a', 70_000)))),
        };
        request.Content.Headers.ContentType = new("text/plain");
        request.Headers.TransferEncodingChunked = true;

        using var response = await Client.SendAsync(request);

        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Theory]
    [InlineData("application/xml")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("multipart/form-data; boundary=x")]
    [InlineData("text/plain; charset=latin1")]
    [InlineData(null)]
    public async Task Publishing_an_unsupported_content_type_returns_415_and_stores_nothing(string? contentType)
    {
        var topic = UniqueTopic();

        using var response = await Client.PostRawAsync(topic, contentType, "{\"text\": \"hi\"}"u8.ToArray());

        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType);
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Theory]
    [InlineData("has.dot")]
    [InlineData("has%20space")]
    [InlineData("emoji-%F0%9F%8E%89")]
    [InlineData("slash%2Fencoded")]
    [InlineData("x-0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task Publishing_to_an_invalid_topic_returns_400_naming_topic(string topic)
    {
        using var response = await Client.PostJsonAsync(topic, """{"text": "hi"}""");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "topic");
    }

    [Fact]
    public async Task A_topic_of_64_allowed_characters_is_accepted()
    {
        var topic = "Az09_-" + new string('x', 58);

        var message = await Client.PublishAsync(topic, "longest topic name");

        Assert.Equal(topic, message.Topic);
    }

    [Fact]
    public async Task Listing_an_invalid_topic_returns_400_naming_topic()
    {
        using var response = await Client.GetAsync("/api/topics/bad.topic/messages");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "topic");
    }

    [Theory]
    [InlineData("limit=0", "limit")]
    [InlineData("limit=201", "limit")]
    [InlineData("limit=-1", "limit")]
    [InlineData("limit=abc", "limit")]
    [InlineData("limit=1.5", "limit")]
    [InlineData("limit=", "limit")]
    [InlineData("limit=1&limit=2", "limit")]
    [InlineData("after=-1", "after")]
    [InlineData("after=abc", "after")]
    [InlineData("after=9223372036854775808", "after")]
    [InlineData("after=1e3", "after")]
    [InlineData("before=-5", "before")]
    [InlineData("before=xyz", "before")]
    [InlineData("before=99999999999999999999", "before")]
    public async Task Listing_with_an_invalid_query_parameter_returns_400_naming_it(string query, string field)
    {
        using var response = await Client.GetAsync($"/api/topics/{UniqueTopic()}/messages?{query}");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }

    [Fact]
    public async Task Listing_accepts_the_largest_int64_cursor()
    {
        Assert.Empty(await Client.ListAsync(UniqueTopic(), "?after=9223372036854775807"));
    }

    [Fact]
    public async Task Health_answers_ok_with_the_version()
    {
        var health = await Client.GetFromJsonAsync<Dictionary<string, string>>("/health");

        Assert.Equal("ok", health!["status"]);
        Assert.False(string.IsNullOrWhiteSpace(health["version"]));
    }

    [Fact]
    public async Task Ready_answers_200_once_the_database_is_migrated()
    {
        using var response = await Client.GetAsync("/ready");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Unknown_routes_answer_with_problem_json()
    {
        using var response = await Client.GetAsync("/api/nothing-here");

        await AssertProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_web_page_is_served_at_the_root()
    {
        using var response = await Client.GetAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<script src=\"app.js\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_latest_page_read_from_memory_includes_a_message_as_soon_as_its_201_arrived()
    {
        var topic = UniqueTopic();
        await Client.PublishAsync(topic, "first");
        await Client.ListAsync(topic); // loads the topic's window

        for (var i = 0; i < 5; i++)
        {
            var published = await Client.PublishAsync(topic, $"then {i}");
            Assert.Equal(published.Id, (await Client.ListAsync(topic, "?limit=2"))[^1].Id);
        }
        Assert.Equal(6, (await Client.ListAsync(topic)).Count);
    }

    [Fact]
    public async Task A_latest_page_read_from_memory_drops_a_deleted_message_at_once()
    {
        var topic = UniqueTopic();
        var keep = await Client.PublishAsync(topic, "keep");
        var doomed = await Client.PublishAsync(topic, "doomed");
        await Client.ListAsync(topic);

        using var deleted = await Client.DeleteAsync($"/api/messages/{doomed.Id}");

        Assert.Equal([keep.Id], (await Client.ListAsync(topic)).Select(m => m.Id));
    }

    [Fact]
    public async Task The_latest_200_stay_exact_as_a_topic_grows_past_its_window()
    {
        var topic = UniqueTopic();
        var published = (await Task.WhenAll(Enumerable.Range(0, 150).Select(i => Client.PublishAsync(topic, $"early {i}")))).Select(m => m.Id).ToList();
        await Client.ListAsync(topic, "?limit=200");
        for (var i = 0; i < 60; i++)
        {
            published.Add((await Client.PublishAsync(topic, $"late {i}")).Id);
        }

        Assert.Equal(published.Order().TakeLast(200), (await Client.ListAsync(topic, "?limit=200")).Select(m => m.Id));
        Assert.Equal(published.Order().TakeLast(7), (await Client.ListAsync(topic, "?limit=7")).Select(m => m.Id));
    }

    private async Task<HttpResponseMessage> PublishWithKeyAsync(string topic, string key, string text)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/topics/{topic}/messages")
        {
            Content = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { text }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        return await Client.SendAsync(request);
    }

    [Fact]
    public async Task A_retry_with_the_same_Idempotency_Key_returns_the_original_message_and_stores_nothing_new()
    {
        var topic = UniqueTopic();
        var key = Guid.NewGuid().ToString();

        using var first = await PublishWithKeyAsync(topic, key, "charge card 42");
        using var retry = await PublishWithKeyAsync(topic, key, "charge card 42");

        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadFromJsonAsync<MessageDto>(), await retry.Content.ReadFromJsonAsync<MessageDto>());
        Assert.Equal("true", retry.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Single(await Client.ListAsync(topic));
    }

    [Fact]
    public async Task Racing_requests_with_one_Idempotency_Key_store_one_message()
    {
        var topic = UniqueTopic();
        var key = Guid.NewGuid().ToString();

        var responses = await Task.WhenAll(Enumerable.Range(0, 12).Select(_ => PublishWithKeyAsync(topic, key, "once only")));
        var ids = await Task.WhenAll(responses.Select(async r => (await r.Content.ReadFromJsonAsync<MessageDto>())!.Id));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Single(ids.Distinct());
        Assert.Single(await Client.ListAsync(topic));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task The_same_Idempotency_Key_with_a_different_body_returns_422_and_stores_nothing()
    {
        var topic = UniqueTopic();
        var key = Guid.NewGuid().ToString();
        using var first = await PublishWithKeyAsync(topic, key, "original");

        using var different = await PublishWithKeyAsync(topic, key, "something else");

        await AssertProblemAsync(different, HttpStatusCode.UnprocessableEntity);
        Assert.Equal(["original"], (await Client.ListAsync(topic)).Select(m => m.Text));
    }

    [Theory]
    [InlineData(129)]
    [InlineData(0)]
    public async Task An_Idempotency_Key_outside_1_to_128_characters_returns_400_naming_it(int length)
    {
        var topic = UniqueTopic();

        using var response = await PublishWithKeyAsync(topic, new string('k', length), "keyed");

        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "Idempotency-Key");
        Assert.Empty(await Client.ListAsync(topic));
    }

    [Fact]
    public async Task An_Idempotency_Key_of_128_characters_is_accepted()
    {
        using var response = await PublishWithKeyAsync(UniqueTopic(), new string('k', 127) + Guid.NewGuid().ToString("N")[..1], "longest key");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private async Task<List<MessageDto>> PublishManyAsync(string topic, int count)
    {
        var messages = new List<MessageDto>();
        for (var i = 0; i < count; i++)
        {
            messages.Add(await Client.PublishAsync(topic, $"message {i}"));
        }
        return messages;
    }
}

public sealed class SqliteMessageApiTests(SqliteServerFixture server) : MessageApiContract(server), IClassFixture<SqliteServerFixture>;

public sealed class PostgresMessageApiTests(PostgresServerFixture server) : MessageApiContract(server), IClassFixture<PostgresServerFixture>;
