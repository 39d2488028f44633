using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Streaming;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging.Abstractions;

namespace MessageServer.Tests.Streaming;

/// <summary>
/// A delivery takes a snapshot of a topic's subscribers and then offers the event to each: a stream may end (and
/// dispose its subscription) at any instant in between. These pin that instant down deterministically.
/// </summary>
public sealed class SubscriptionRaceTests
{
    private static MessageHub CreateHub(int subscriberBuffer)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("STREAM_SUBSCRIBER_BUFFER", subscriberBuffer.ToString(System.Globalization.CultureInfo.InvariantCulture))])
            .Build();
        Assert.True(ServerSettings.TryLoad(configuration, out var settings, out var errors), string.Join("; ", errors));
        return new MessageHub(settings, NullLogger<MessageHub>.Instance);
    }

    private static Message NewMessage(long id) => new(id, "race", "test", $"message {id}", DateTime.UtcNow);

    [Fact]
    public void An_event_offered_to_a_subscription_disposed_after_the_snapshot_is_dropped_without_an_error()
    {
        using var hub = CreateHub(subscriberBuffer: 10);
        var subscription = hub.Subscribe("race", after: 0);
        subscription.Dispose();

        var error = Record.Exception(() => subscription.Offer(new StreamEvent.Stored(NewMessage(1))));

        Assert.Null(error);
    }

    [Fact]
    public void A_subscriber_disposed_in_the_middle_of_a_delivery_costs_the_subscribers_after_it_nothing()
    {
        using var hub = CreateHub(subscriberBuffer: 1);
        var overflowing = hub.Subscribe("race", after: 0);
        var leaving = hub.Subscribe("race", after: 0);
        var healthy = hub.Subscribe("race", after: 0);
        hub.OnStored(NewMessage(1));
        Assert.True(healthy.Events.TryRead(out _));
        // When the first subscriber is cut off for falling behind, the second one's stream ends at that very moment:
        // after the delivery took its snapshot, before it reached the second.
        overflowing.CutOff.Register(leaving.Dispose);

        var error = Record.Exception(() => hub.OnStored(NewMessage(2)));

        Assert.Null(error);
        Assert.True(overflowing.Overflowed);
        Assert.True(healthy.Events.TryRead(out var delivered));
        Assert.Equal(2, Assert.IsType<StreamEvent.Stored>(delivered).Message.Id);
    }
}
