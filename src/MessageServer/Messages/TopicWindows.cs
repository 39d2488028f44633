using System.Collections.Concurrent;
using System.Text.Json;
using MessageServer.ChangeFeed;
using MessageServer.Storage;

namespace MessageServer.Messages;

/// <summary>
/// The latest messages of recently read topics, in memory, with each page size's JSON ready to send: a latest
/// page read needs no database round trip. Kept current by the change feed, which hands over this instance's own
/// publishes and deletes before their response is sent, so a read after a 201 includes that message.
/// </summary>
public sealed class TopicWindows : IChangeConsumer
{
    public const int Size = InputRules.MaxLimit;
    private const int Stripes = 4096;

    // Topics kept at most; past it the least recently read tenth is dropped.
    private readonly int maxTopics;

    // Counts reads and loads: a window's LastRead is the count when it was last used.
    private long readClock;

    private readonly ConcurrentDictionary<string, Window> windows = new(StringComparer.Ordinal);

    // Changes counted per stripe of topics, so a page read from the database is cached only if nothing changed
    // in its topic while it was being read.
    private readonly long[] generations = new long[Stripes];

    public TopicWindows(int maxTopics = 10_000)
    {
        this.maxTopics = maxTopics;
    }

    public long Generation(string topic) => Volatile.Read(ref generations[Stripe(topic)]);

    /// <summary>The JSON of the latest <paramref name="limit"/> messages when the topic's window is in memory.</summary>
    public bool TryGetLatest(string topic, int limit, out byte[] json)
    {
        json = [];
        if (!windows.TryGetValue(topic, out var window))
        {
            return false;
        }
        window.LastRead = Interlocked.Increment(ref readClock);
        return window.TryGetJson(limit, out json);
    }

    /// <summary>Keeps the latest messages read from the store, unless the topic changed since <paramref name="generation"/>.</summary>
    public void Load(string topic, IReadOnlyList<Message> latest, long generation)
    {
        if (windows.Count >= maxTopics)
        {
            EvictLeastRecentlyRead();
        }
        var window = new Window(latest) { LastRead = Interlocked.Increment(ref readClock) };
        if (Generation(topic) == generation && windows.TryAdd(topic, window) && Generation(topic) != generation)
        {
            windows.TryRemove(new KeyValuePair<string, Window>(topic, window));
        }
    }

    /// <summary>
    /// Forgets every window, e.g. when the change feed may have missed events (its connection dropped): the next
    /// reads load from the store. Loads already under way are discarded too, as they may predate the missed events.
    /// </summary>
    private void Clear()
    {
        for (var stripe = 0; stripe < Stripes; stripe++)
        {
            Interlocked.Increment(ref generations[stripe]);
        }
        windows.Clear();
    }

    /// <summary>Drops the least recently read tenth of the windows (at least one): a scan per that many loads.</summary>
    private void EvictLeastRecentlyRead()
    {
        var oldest = windows.OrderBy(entry => entry.Value.LastRead).Take(Math.Max(1, maxTopics / 10)).ToList();
        foreach (var entry in oldest)
        {
            windows.TryRemove(entry);
        }
    }

    public bool NeedsCommitOrder => false;

    public void OnStored(Message message) => Add(message);

    public void OnDeleted(DeletedMessage deleted) => Remove(deleted.Topic, deleted.Id);

    /// <summary>The windows may lack what the feed missed (other instances' publishes and deletes): drop them all.</summary>
    public Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken)
    {
        Clear();
        return Task.CompletedTask;
    }

    private void Add(Message message)
    {
        Interlocked.Increment(ref generations[Stripe(message.Topic)]);
        if (windows.TryGetValue(message.Topic, out var window))
        {
            window.Add(message);
        }
    }

    private void Remove(string topic, long id)
    {
        Interlocked.Increment(ref generations[Stripe(topic)]);
        if (windows.TryGetValue(topic, out var window))
        {
            window.Remove(id);
        }
    }

    private static int Stripe(string topic) => (int)((uint)StringComparer.Ordinal.GetHashCode(topic) % Stripes);

    private sealed class Window(IReadOnlyList<Message> latest)
    {
        private readonly Lock gate = new();
        private readonly List<Message> messages = [.. latest];
        private readonly Dictionary<int, byte[]> json = [];

        // Ids deleted from this topic: a late report of such a message being stored (the change feed's echo of this
        // instance's own publish, after the delete) must not bring it back.
        private readonly HashSet<long> deleted = [];

        // The window always holds the latest messages.Count messages of the topic; while it holds all of
        // them (fewer than Size were ever there), it can serve any page size.
        private bool wholeTopic = latest.Count < Size;

        /// <summary>When it was last read or loaded, on the windows' read clock, for evicting the least recently read.</summary>
        public long LastRead { get; set; }

        public bool TryGetJson(int limit, out byte[] page)
        {
            lock (gate)
            {
                if (json.TryGetValue(limit, out page!))
                {
                    return true;
                }
                if (!wholeTopic && messages.Count < limit)
                {
                    return false;
                }
                var slice = messages.Count > limit ? messages.GetRange(messages.Count - limit, limit) : messages;
                page = JsonSerializer.SerializeToUtf8Bytes(new MessageList(slice), MessageJsonContext.Default.MessageList);
                json[limit] = page;
                return true;
            }
        }

        public void Add(Message message)
        {
            lock (gate)
            {
                var index = messages.BinarySearch(message, ById.Instance);
                if (index >= 0 || deleted.Contains(message.Id))
                {
                    return;
                }
                messages.Insert(~index, message);
                if (messages.Count > Size)
                {
                    messages.RemoveAt(0);
                    wholeTopic = false;
                }
                json.Clear();
            }
        }

        public void Remove(long id)
        {
            lock (gate)
            {
                deleted.Add(id);
                if (deleted.Count > 2 * Size)
                {
                    // Only ids the window could still hold matter.
                    var oldest = messages.Count > 0 ? messages[0].Id : long.MaxValue;
                    deleted.RemoveWhere(deletedId => deletedId < oldest && deletedId != id);
                }
                var index = messages.FindIndex(m => m.Id == id);
                if (index < 0)
                {
                    return;
                }
                messages.RemoveAt(index);
                json.Clear();
            }
        }
    }

    private sealed class ById : IComparer<Message>
    {
        public static readonly ById Instance = new();

        public int Compare(Message? x, Message? y) => x!.Id.CompareTo(y!.Id);
    }
}
