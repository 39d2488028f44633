using System.Collections.Concurrent;
using System.Threading.Channels;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Operations;

namespace MessageServer.Streaming;

/// <summary>
/// Live subscribers by topic on this instance. The change feed is its only source (for this instance's
/// own publishes too), and it hands events over in commit order, which within a topic is id order.
/// </summary>
public sealed class MessageHub : IDisposable
{
    private readonly ConcurrentDictionary<string, TopicSubscribers> topics = new(StringComparer.Ordinal);
    private readonly ServerSettings settings;

    // One timer for all streams (not one per stream): every subscriber gets a comment line each interval.
    private readonly Timer heartbeat;

    public MessageHub(ServerSettings settings)
    {
        this.settings = settings;
        heartbeat = new Timer(_ => SendHeartbeats(), null, settings.StreamHeartbeat, settings.StreamHeartbeat);
    }

    public void Dispose() => heartbeat.Dispose();

    private void SendHeartbeats()
    {
        foreach (var subscribers in topics.Values)
        {
            subscribers.ForEach(s => s.OfferHeartbeat());
        }
    }

    public int SubscriberCount => topics.Values.Sum(t => t.Count);

    /// <summary>Starts receiving a topic's live events; ids at or below <paramref name="after"/> are skipped.</summary>
    public Subscription Subscribe(string topic, long after)
    {
        var subscription = new Subscription(topic, after, settings.StreamSubscriberBuffer, Remove);
        // A topic entry can be emptied and dropped concurrently; retry until the subscription is added to a live one.
        while (!topics.GetOrAdd(topic, _ => new TopicSubscribers()).TryAdd(subscription))
        {
        }
        ServerMetrics.StreamSubscribers.Inc();
        return subscription;
    }

    public void Deliver(Message message)
    {
        if (topics.TryGetValue(message.Topic, out var subscribers))
        {
            // One event, serialised once, for every subscriber of the topic.
            var stored = new StreamEvent.Stored(message);
            subscribers.ForEach(s => s.Offer(stored));
        }
    }

    public void DeliverDeleted(string topic, long id)
    {
        if (topics.TryGetValue(topic, out var subscribers))
        {
            subscribers.ForEach(s => s.Offer(new StreamEvent.Deleted(id)));
        }
    }

    /// <summary>
    /// For catching up after the change feed lost events: each topic with subscribers, and the id after which
    /// the one furthest behind still needs messages.
    /// </summary>
    public IReadOnlyList<(string Topic, long After)> ActiveTopics() =>
        topics.Select(entry => (entry.Key, entry.Value.LowestOffered())).Where(t => t.Item2 is not null).Select(t => (t.Key, t.Item2!.Value)).ToList();

    private void Remove(Subscription subscription)
    {
        if (!topics.TryGetValue(subscription.Topic, out var subscribers))
        {
            return;
        }
        var (removed, emptied) = subscribers.Remove(subscription);
        if (removed)
        {
            ServerMetrics.StreamSubscribers.Dec();
        }
        if (emptied)
        {
            topics.TryRemove(new KeyValuePair<string, TopicSubscribers>(subscription.Topic, subscribers));
        }
    }

    /// <summary>The subscribers of one topic; once emptied it is closed, so a late subscriber makes a fresh one.</summary>
    private sealed class TopicSubscribers
    {
        // A set, so that thousands of subscribers leaving at once (a proxy restart) cost no quadratic removals.
        private readonly HashSet<Subscription> subscriptions = [];
        private bool closed;

        public int Count
        {
            get { lock (subscriptions) { return subscriptions.Count; } }
        }

        public bool TryAdd(Subscription subscription)
        {
            lock (subscriptions)
            {
                if (closed)
                {
                    return false;
                }
                subscriptions.Add(subscription);
                return true;
            }
        }

        /// <summary>Removes a subscription; Emptied when that left the topic without subscribers (and closed it).</summary>
        public (bool Removed, bool Emptied) Remove(Subscription subscription)
        {
            lock (subscriptions)
            {
                if (!subscriptions.Remove(subscription))
                {
                    return (false, false);
                }
                closed = subscriptions.Count == 0;
                return (true, closed);
            }
        }

        public void ForEach(Action<Subscription> action)
        {
            Subscription[] snapshot;
            lock (subscriptions)
            {
                snapshot = [.. subscriptions];
            }
            foreach (var subscription in snapshot)
            {
                action(subscription);
            }
        }

        public long? LowestOffered()
        {
            lock (subscriptions)
            {
                return subscriptions.Count == 0 ? null : subscriptions.Min(s => s.LastOfferedId);
            }
        }
    }
}

public abstract record StreamEvent
{
    public sealed record Heartbeat : StreamEvent
    {
        public static readonly Heartbeat Instance = new();

        public static readonly byte[] Frame = ": heartbeat\n\n"u8.ToArray();
    }

    public sealed record Stored(Message Message) : StreamEvent
    {
        private byte[]? frame;

        /// <summary>The whole SSE frame (id, event, data), made on first use and shared by all subscribers.</summary>
        public byte[] Frame => frame ??= SseFrames.Message(Message);
    }

    public sealed record Deleted(long Id) : StreamEvent
    {
        private byte[]? frame;

        public byte[] Frame => frame ??= SseFrames.Deleted(Id);
    }
}

/// <summary>
/// One live subscriber's bounded queue. A subscriber that falls too far behind is cut off rather than
/// allowed to hold memory or slow anyone down; it resumes from its last event id.
/// </summary>
public sealed class Subscription : IDisposable
{
    private readonly Channel<StreamEvent> events;

    private readonly Action<Subscription> leave;

    internal Subscription(string topic, long after, int capacity, Action<Subscription> leave)
    {
        this.leave = leave;
        Topic = topic;
        lastOfferedId = after;
        events = Channel.CreateBounded<StreamEvent>(new BoundedChannelOptions(capacity) { SingleReader = true });
    }

    public string Topic { get; }

    private readonly Lock gate = new();
    private long lastOfferedId;

    /// <summary>The highest message id queued (or known to be already seen) so far.</summary>
    public long LastOfferedId
    {
        get { lock (gate) { return lastOfferedId; } }
    }

    private readonly CancellationTokenSource cutOff = new();

    /// <summary>True once this subscriber was dropped for falling behind.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Cancelled when the subscriber is dropped, so a stream blocked on a full socket stops too.</summary>
    public CancellationToken CutOff => cutOff.Token;

    public ChannelReader<StreamEvent> Events => events.Reader;


    /// <summary>A heartbeat is dropped, never counted against the subscriber, when its queue is full.</summary>
    internal void OfferHeartbeat() => events.Writer.TryWrite(StreamEvent.Heartbeat.Instance);

    /// <summary>Marks everything up to <paramref name="id"/> as seen, e.g. what a replay from the store covers.</summary>
    public void SkipThrough(long id)
    {
        lock (gate)
        {
            lastOfferedId = Math.Max(lastOfferedId, id);
        }
    }

    internal void Offer(StreamEvent streamEvent)
    {
        lock (gate)
        {
            if (streamEvent is StreamEvent.Stored stored)
            {
                if (stored.Message.Id <= lastOfferedId)
                {
                    return;
                }
                lastOfferedId = stored.Message.Id;
            }
            if (events.Writer.TryWrite(streamEvent) || Overflowed)
            {
                return;
            }
            Overflowed = true;
            events.Writer.TryComplete();
        }
        // Outside the lock: cancelling runs the stream's callbacks, and leaving the hub takes the topic's lock.
        leave(this);
        cutOff.Cancel();
    }

    public void Dispose()
    {
        leave(this);
        events.Writer.TryComplete();
        cutOff.Dispose();
    }
}
