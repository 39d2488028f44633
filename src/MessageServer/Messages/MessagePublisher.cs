using System.Threading.Channels;
using MessageServer.ChangeFeed;
using MessageServer.Operations;
using MessageServer.Storage;

namespace MessageServer.Messages;

/// <summary>
/// Group commit: concurrent publishes queue here and one writer stores whatever has gathered as one
/// transaction, then acknowledges each publish only after that commit. Under load this turns many
/// small transactions into few large ones; when idle a lone publish is written at once.
/// </summary>
public sealed class MessagePublisher : IAsyncDisposable
{
    private const int MaxBatchSize = 512;

    private readonly Channel<PendingPublish> queue = Channel.CreateBounded<PendingPublish>(
        new BoundedChannelOptions(16 * MaxBatchSize) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly IMessageStore store;
    private readonly ILogger<MessagePublisher> logger;
    private readonly Task writer;

    private readonly IChangeFeed changeFeed;

    public MessagePublisher(IMessageStore store, IChangeFeed changeFeed, ILogger<MessagePublisher> logger)
    {
        this.store = store;
        this.changeFeed = changeFeed;
        this.logger = logger;
        writer = Task.Run(WriteBatchesAsync);
    }

    /// <summary>Completes with the outcome once its transaction has committed.</summary>
    public async Task<PublishOutcome> PublishAsync(NewMessage message, CancellationToken cancellationToken)
    {
        var pending = new PendingPublish(message);
        await queue.Writer.WriteAsync(pending, cancellationToken);
        // Once queued the message will be written whatever happens to the request, so wait for the outcome
        // without the request's token: a client that hung up simply never reads its 201.
        return await pending.Outcome.Task;
    }

    private async Task WriteBatchesAsync()
    {
        var batch = new List<PendingPublish>(MaxBatchSize);
        while (await queue.Reader.WaitToReadAsync())
        {
            while (batch.Count < MaxBatchSize && queue.Reader.TryRead(out var pending))
            {
                batch.Add(pending);
            }
            IReadOnlyList<PublishOutcome> outcomes;
            try
            {
                outcomes = await store.AppendAsync(batch.ConvertAll(p => p.Message), CancellationToken.None);
            }
            catch (Exception exception)
            {
                logger.LogWarning("Could not store a batch of {Count} messages: {Reason}", batch.Count, exception.Message);
                ServerMetrics.DatabaseErrors.WithLabels("publish").Inc();
                batch.ForEach(p => p.Outcome.TrySetException(exception));
                batch.Clear();
                continue;
            }
            // Committed: from here on each publish is a 201, whatever happens next. The feed hears of the batch
            // before the answers go out, so a read of the latest page right after a 201 includes the message.
            var appended = outcomes.OfType<PublishOutcome.Appended>().Select(outcome => outcome.Message).ToList();
            changeFeed.Stored(appended);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Outcome.TrySetResult(outcomes[i]);
            }
            ServerMetrics.MessagesPublished.Inc(appended.Count);
            ServerMetrics.PublishBatchSize.Observe(batch.Count);
            batch.Clear();
        }
    }

    /// <summary>
    /// Runs after the web server has finished its in-flight requests (the container disposes singletons
    /// last), so every publish that was accepted is written before the process exits.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        await writer;
    }

    private sealed record PendingPublish(NewMessage Message)
    {
        public TaskCompletionSource<PublishOutcome> Outcome { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
