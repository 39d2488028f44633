using MessageServer.Messages;

namespace MessageServer.Tests.Messages;

public sealed class TopicWindowsTests
{
    private static Message NewMessage(string topic, long id) => new(id, topic, "test", $"message {id}", DateTime.UtcNow);

    [Fact]
    public void A_full_set_of_windows_drops_the_least_recently_read_topic_not_every_topic()
    {
        var windows = new TopicWindows(maxTopics: 10);
        for (var i = 0; i < 10; i++)
        {
            windows.Load($"topic-{i}", [NewMessage($"topic-{i}", i + 1)], windows.Generation($"topic-{i}"));
        }
        Assert.True(windows.TryGetLatest("topic-0", 50, out _)); // read: now the most recently used

        windows.Load("topic-10", [NewMessage("topic-10", 11)], windows.Generation("topic-10"));

        var kept = Enumerable.Range(0, 11).Where(i => windows.TryGetLatest($"topic-{i}", 50, out _)).ToList();
        Assert.Equal([0, 2, 3, 4, 5, 6, 7, 8, 9, 10], kept);
    }

    [Fact]
    public void A_late_report_of_a_deleted_message_being_stored_does_not_bring_it_back()
    {
        var windows = new TopicWindows();
        windows.Load("topic", [NewMessage("topic", 1)], windows.Generation("topic"));
        var published = NewMessage("topic", 2);
        windows.OnStored(published);
        windows.OnDeleted(new DeletedMessage("topic", 2));

        windows.OnStored(published); // the change feed's echo of the publish, arriving after the delete

        Assert.True(windows.TryGetLatest("topic", 50, out var json));
        Assert.DoesNotContain("\"id\":2", System.Text.Encoding.UTF8.GetString(json), StringComparison.Ordinal);
    }
}
