using MessageServer.ChangeFeed;
using MessageServer.Messages;
using MessageServer.Storage;

namespace MessageServer.Webhooks;

/// <summary>
/// The webhooks' place on the change feed: it only wakes the delivery worker when a topic with webhooks gets a
/// message. What to send is read from the database, so nothing here can be lost, and nothing here can fail a
/// publish or another consumer.
/// </summary>
public sealed class WebhookWakeUp(WebhookDeliveryWorker worker) : IChangeConsumer
{
    // This instance's own publishes wake it at once; other instances' arrive through NOTIFY as well.
    public bool NeedsCommitOrder => false;

    public void OnStored(Message message)
    {
        if (worker.HasWebhooks(message.Topic))
        {
            worker.WakeUp();
        }
    }

    public void OnDeleted(DeletedMessage deleted)
    {
    }

    public Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken)
    {
        worker.WakeUp();
        return Task.CompletedTask;
    }
}
