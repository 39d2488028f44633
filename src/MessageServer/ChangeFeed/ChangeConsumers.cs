using MessageServer.Messages;
using MessageServer.Operations;
using MessageServer.Storage;

namespace MessageServer.ChangeFeed;

/// <summary>
/// Hands changes to the consumers one at a time, each isolated: a consumer that throws is logged and counted,
/// and every other consumer, and every later change, is delivered all the same. Nothing a consumer does can
/// reach the writer that reported the commit.
/// </summary>
public sealed class ChangeConsumers
{
    private readonly ILogger<ChangeConsumers> logger;

    public ChangeConsumers(IEnumerable<IChangeConsumer> consumers, ILogger<ChangeConsumers> logger)
    {
        this.logger = logger;
        All = [.. consumers];
        Immediate = [.. All.Where(consumer => !consumer.NeedsCommitOrder)];
    }

    public IReadOnlyList<IChangeConsumer> All { get; }

    /// <summary>The consumers that take this instance's own commits as soon as they are made.</summary>
    public IReadOnlyList<IChangeConsumer> Immediate { get; }

    public void Stored(IReadOnlyList<IChangeConsumer> consumers, IReadOnlyList<Message> messages) =>
        Deliver(consumers, messages, static (consumer, message) => consumer.OnStored(message));

    public void Deleted(IReadOnlyList<IChangeConsumer> consumers, IReadOnlyList<DeletedMessage> deleted) =>
        Deliver(consumers, deleted, static (consumer, message) => consumer.OnDeleted(message));

    /// <summary>Each change to each consumer, one failure costing only that consumer that change.</summary>
    private void Deliver<TChange>(IReadOnlyList<IChangeConsumer> consumers, IReadOnlyList<TChange> changes, Action<IChangeConsumer, TChange> deliver)
    {
        foreach (var consumer in consumers)
        {
            foreach (var change in changes)
            {
                try
                {
                    deliver(consumer, change);
                }
                catch (Exception exception)
                {
                    Report(consumer, exception);
                }
            }
        }
    }

    public async Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken)
    {
        foreach (var consumer in All)
        {
            await consumer.CatchUpAsync(store, missedFor, cancellationToken);
        }
    }

    private void Report(IChangeConsumer consumer, Exception exception)
    {
        ServerMetrics.ChangeConsumerErrors.Inc();
        logger.LogError(exception, "{Consumer} failed to take a change; the others got it", consumer.GetType().Name);
    }
}
