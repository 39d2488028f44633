using System.IO.Pipelines;
using System.Text;
using System.Text.RegularExpressions;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Streaming;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MessageServer.Tests.Streaming;

/// <summary>
/// A delivery takes a snapshot of a topic's subscribers and then offers the event to each: a stream may end (and
/// dispose its subscription) at any instant in between. These pin that instant down deterministically.
/// </summary>
public sealed partial class SubscriptionRaceTests
{
    private static MessageHub CreateHub(int subscriberBuffer, ILogger<MessageHub>? logger = null)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection([new("STREAM_SUBSCRIBER_BUFFER", subscriberBuffer.ToString(System.Globalization.CultureInfo.InvariantCulture))])
            .Build();
        Assert.True(ServerSettings.TryLoad(configuration, out var settings, out var errors), string.Join("; ", errors));
        return new MessageHub(settings, logger ?? NullLogger<MessageHub>.Instance);
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
    public async Task A_subscriber_disposed_in_the_middle_of_a_delivery_costs_the_subscribers_after_it_nothing()
    {
        var errors = new ErrorLog();
        using var hub = CreateHub(subscriberBuffer: 1, errors);
        var overflowing = hub.Subscribe("race", after: 0); // never goes live: its backlog of one fills
        var leaving = hub.Subscribe("race", after: 0);
        var healthy = hub.Subscribe("race", after: 0);
        var connection = new Pipe();
        var live = healthy.DeliverLiveAsync(connection.Writer, lastSent: 0, CancellationToken.None);
        hub.OnStored(NewMessage(1));
        // When the first subscriber is cut off for falling behind, the second one's stream ends at that very moment:
        // after the delivery took its snapshot, before it reached the second.
        overflowing.CutOffToken.Register(leaving.Dispose);

        hub.OnStored(NewMessage(2));
        hub.OnStored(NewMessage(3));

        Assert.Equal(new long[] { 1, 2, 3 }, await ReadIdsAsync(connection.Reader, count: 3));
        Assert.True(overflowing.Overflowed);
        Assert.Empty(errors.Entries);
        healthy.Dispose();
        await live.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Events_offered_during_the_replay_are_written_first_without_what_the_replay_sent()
    {
        using var hub = CreateHub(subscriberBuffer: 10);
        var subscription = hub.Subscribe("race", after: 0);
        hub.OnStored(NewMessage(1));
        hub.OnStored(NewMessage(2));
        hub.OnStored(NewMessage(3));
        await WaitUntilAsync(() => subscription.LastOfferedId == 3); // waiting in the backlog
        var connection = new Pipe();

        // The replay from the store sent up to 2; 3 waited; 4 comes once live.
        var live = subscription.DeliverLiveAsync(connection.Writer, lastSent: 2, CancellationToken.None);
        hub.OnStored(NewMessage(2));
        hub.OnStored(NewMessage(4));

        Assert.Equal(new long[] { 3, 4 }, await ReadIdsAsync(connection.Reader, count: 2));
        subscription.Dispose();
        await live.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_connection_that_stops_taking_data_gets_the_events_of_the_meantime_in_order_once_it_reads_again()
    {
        using var hub = CreateHub(subscriberBuffer: 100);
        var subscription = hub.Subscribe("race", after: 0);
        var connection = ClientThatStoppedReading();
        var live = subscription.DeliverLiveAsync(connection.Writer, lastSent: 0, CancellationToken.None);

        Publish(hub, 1, 50);

        Assert.Equal(Enumerable.Range(1, 50).Select(i => (long)i), await ReadIdsAsync(connection.Reader, count: 50));
        Assert.False(subscription.Overflowed);
        hub.OnStored(NewMessage(51));
        Assert.Equal(new long[] { 51 }, await ReadIdsAsync(connection.Reader, count: 1));
        subscription.Dispose();
        await live.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_subscriber_whose_connection_stays_blocked_is_cut_off_and_its_stream_ends()
    {
        using var hub = CreateHub(subscriberBuffer: 5);
        var subscription = hub.Subscribe("race", after: 0);
        var live = subscription.DeliverLiveAsync(ClientThatStoppedReading().Writer, lastSent: 0, CancellationToken.None);

        Publish(hub, 1, 10);

        await live.WaitAsync(TimeSpan.FromSeconds(5)); // not left waiting for a client that never reads
        Assert.True(subscription.Overflowed);
        Assert.True(subscription.CutOffToken.IsCancellationRequested);
        Assert.Equal(0, hub.SubscriberCount);
    }

    [Fact]
    public async Task Ending_a_stream_whose_flush_waits_for_the_client_lets_it_go()
    {
        using var hub = CreateHub(subscriberBuffer: 100);
        var subscription = hub.Subscribe("race", after: 0);
        var live = subscription.DeliverLiveAsync(ClientThatStoppedReading().Writer, lastSent: 0, CancellationToken.None);
        Publish(hub, 1, 2);
        Assert.False(live.IsCompleted);

        subscription.Dispose();

        await live.WaitAsync(TimeSpan.FromSeconds(5));
    }

    /// <summary>A connection that takes one frame and then blocks every flush until it is read.</summary>
    private static Pipe ClientThatStoppedReading() => new(new PipeOptions(pauseWriterThreshold: 1, resumeWriterThreshold: 1));

    private static void Publish(MessageHub hub, int firstId, int lastId)
    {
        for (var id = firstId; id <= lastId; id++)
        {
            hub.OnStored(NewMessage(id));
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not come true within 5 s.");
            await Task.Delay(10);
        }
    }

    /// <summary>The hub's error log lines: a delivery that threw is logged there, and must not happen.</summary>
    private sealed class ErrorLog : ILogger<MessageHub>
    {
        public System.Collections.Concurrent.ConcurrentQueue<string> Entries { get; } = new();

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Error;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                Entries.Enqueue($"{formatter(state, exception)} {exception}");
            }
        }
    }

    /// <summary>Reads frames from the connection until <paramref name="count"/> message ids have arrived.</summary>
    private static async Task<long[]> ReadIdsAsync(PipeReader reader, int count)
    {
        var text = new StringBuilder();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        while (true)
        {
            var ids = IdLine().Matches(text.ToString()).Select(m => long.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
            if (ids.Length >= count)
            {
                return ids;
            }
            var result = await reader.ReadAsync(timeout.Token);
            foreach (var segment in result.Buffer)
            {
                text.Append(Encoding.UTF8.GetString(segment.Span));
            }
            reader.AdvanceTo(result.Buffer.End);
        }
    }

    [GeneratedRegex("^id: (\\d+)$", RegexOptions.Multiline)]
    private static partial Regex IdLine();
}
