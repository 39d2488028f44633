using System.Collections.Concurrent;
using MessageServer.ChangeFeed;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Operations;
using MessageServer.Storage;

namespace MessageServer.Streaming;

/// <summary>
/// Live subscribers by topic on this instance. The change feed is its only source (for this instance's
/// own publishes too), and it hands events over in commit order, which within a topic is id order.
/// </summary>
/// <remarks>
/// The feed's thread delivers: each event is written to every live subscriber's connection right there, in commit
/// order. Handing deliveries to a task of the hub's own (so that the feed's thread, on SQLite the group-commit writer,
/// would not wait for them) was measured and made the fan-out's p99 ~40 % worse at 10,000 subscribers, on one task and
/// on one per processor alike; on PostgreSQL the feed's thread is the change-feed listener, not a publisher.
/// </remarks>
public sealed class MessageHub : IChangeConsumer, IDisposable
{
    private readonly ConcurrentDictionary<string, TopicSubscribers> topics = new(StringComparer.Ordinal);
    private readonly ServerSettings settings;
    private readonly ILogger<MessageHub> logger;

    // One timer for all streams (not one per stream): every subscriber gets a comment line each interval.
    private readonly Timer heartbeat;

    public MessageHub(ServerSettings settings, ILogger<MessageHub> logger)
    {
        this.settings = settings;
        this.logger = logger;
        heartbeat = new Timer(_ => SendHeartbeats(), null, settings.StreamHeartbeat, settings.StreamHeartbeat);
    }

    public void Dispose() => heartbeat.Dispose();

    private void SendHeartbeats()
    {
        foreach (var subscribers in topics.Values)
        {
            foreach (var subscription in subscribers.Snapshot())
            {
                subscription.OfferHeartbeat();
            }
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

    public bool NeedsCommitOrder => true;

    public void OnStored(Message message)
    {
        if (topics.TryGetValue(message.Topic, out var subscribers))
        {
            // One event, serialised once, for every subscriber of the topic.
            Offer(subscribers, new StreamEvent.Stored(message));
        }
    }

    public void OnDeleted(DeletedMessage deleted)
    {
        if (topics.TryGetValue(deleted.Topic, out var subscribers))
        {
            Offer(subscribers, new StreamEvent.Deleted(deleted.Id));
        }
    }

    private void Offer(TopicSubscribers subscribers, StreamEvent streamEvent)
    {
        foreach (var subscription in subscribers.Snapshot())
        {
            try
            {
                subscription.Offer(streamEvent);
            }
            catch (Exception exception)
            {
                // Offer is written not to throw; should it ever, that costs one subscriber, never the others.
                ServerMetrics.ChangeConsumerErrors.Inc();
                logger.LogError(exception, "A live subscriber of '{Topic}' could not take an event", subscription.Topic);
            }
        }
    }

    /// <summary>
    /// Each topic with subscribers gets from the store the messages after the one its furthest-behind subscriber
    /// has (the others skip what they have), and the deletes of the missed time again (a repeat is harmless).
    /// </summary>
    public async Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken)
    {
        foreach (var (topic, after) in ActiveTopics())
        {
            await foreach (var page in store.PagesAfterAsync(topic, after, cancellationToken))
            {
                foreach (var message in page)
                {
                    OnStored(message);
                }
            }
            foreach (var id in await store.DeletedAsync(topic, long.MaxValue, missedFor, cancellationToken))
            {
                OnDeleted(new DeletedMessage(topic, id));
            }
        }
    }

    /// <summary>Each topic with subscribers, and the id after which the one furthest behind still needs messages.</summary>
    private List<(string Topic, long After)> ActiveTopics() =>
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

        // What deliveries iterate, made again only after a change: a copy per event would cost a large-object
        // allocation per message once a topic has more than ~10,000 subscribers.
        private Subscription[]? snapshot;

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
                snapshot = null;
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
                snapshot = null;
                closed = subscriptions.Count == 0;
                return (true, closed);
            }
        }

        public Subscription[] Snapshot()
        {
            lock (subscriptions)
            {
                return snapshot ??= [.. subscriptions];
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
    /// <summary>The whole SSE frame, made on first use and shared by all subscribers.</summary>
    public abstract byte[] Frame { get; }

    public sealed record Heartbeat : StreamEvent
    {
        public static readonly Heartbeat Instance = new();

        private static readonly byte[] Comment = ": heartbeat\n\n"u8.ToArray();

        public override byte[] Frame => Comment;
    }

    public sealed record Stored(Message Message) : StreamEvent
    {
        private byte[]? frame;

        public override byte[] Frame => frame ??= SseFrames.Message(Message);
    }

    public sealed record Deleted(long Id) : StreamEvent
    {
        private byte[]? frame;

        public override byte[] Frame => frame ??= SseFrames.Deleted(Id);
    }
}
