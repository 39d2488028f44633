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

    public void Stored(IReadOnlyList<IChangeConsumer> consumers, IReadOnlyList<Message> messages)
    {
        foreach (var consumer in consumers)
        {
            foreach (var message in messages)
            {
                try
                {
                    consumer.OnStored(message);
                }
                catch (Exception exception)
                {
                    Report(consumer, exception);
                }
            }
        }
    }

    public void Deleted(IReadOnlyList<IChangeConsumer> consumers, IReadOnlyList<DeletedMessage> deleted)
    {
        foreach (var consumer in consumers)
        {
            foreach (var message in deleted)
            {
                try
                {
                    consumer.OnDeleted(message);
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
