using System.Buffers;
using System.IO.Pipelines;

namespace MessageServer.Streaming;

/// <summary>
/// One live subscriber. Once its stream is live, the thread delivering an event writes it straight to the
/// subscriber's connection and flushes it there: no queue, thread-pool hop or task switch per subscriber per event,
/// which is most of what a delivery cost when thousands of streams watch a topic. Only while the stream replays from
/// the store, or while its connection cannot take more at once (a flush that did not complete), do events wait in a
/// bounded backlog that the stream's own task writes once the connection is ready. A subscriber whose backlog fills
/// is cut off rather than allowed to hold memory or slow anyone down; it resumes from its last event id.
/// </summary>
/// <remarks>
/// Every write to the connection happens under <see cref="gate"/>, in the order events were offered: deliveries
/// write while the stream is live and ready, the stream's task writes the backlog otherwise, never both.
/// </remarks>
public sealed class Subscription : IDisposable
{
    private readonly Lock gate = new();
    private readonly Queue<StreamEvent> backlog = new();
    private readonly int capacity;
    private readonly Action<Subscription> leave;

    // Never disposed: a delivery may still cancel it after the stream has ended (a CancellationTokenSource
    // without a timer holds nothing that needs disposing).
    private readonly CancellationTokenSource cutOff = new();

    private long lastOfferedId;
    private bool ended;

    // The connection, once live. Deliveries write to it themselves unless the stream's task is busy with it:
    // writing the backlog, or waiting for a flush that a delivery started and could not complete (handed over).
    private PipeWriter? output;
    private bool writerBusy;
    private bool handedOver;
    private ValueTask<FlushResult> pendingFlush;
    private bool awaitingFlush;

    // The client went away: its stream is about to end, and writing to it would only queue work for the server.
    private CancellationToken connectionGone;

    // Wakes the stream's task: a flush is pending for it to wait out, or the subscription ended.
    private TaskCompletionSource? wake;

    internal Subscription(string topic, long after, int capacity, Action<Subscription> leave)
    {
        Topic = topic;
        lastOfferedId = after;
        this.capacity = capacity;
        this.leave = leave;
    }

    public string Topic { get; }

    /// <summary>The highest message id offered (or known to be already seen) so far.</summary>
    public long LastOfferedId
    {
        get { lock (gate) { return lastOfferedId; } }
    }

    /// <summary>True once this subscriber was dropped for falling behind.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Cancelled when the subscriber is dropped, so a stream blocked on a full socket stops too.</summary>
    public CancellationToken CutOffToken => cutOff.Token;

    /// <summary>Marks everything up to <paramref name="id"/> as seen, e.g. what a replay from the store covers.</summary>
    public void SkipThrough(long id)
    {
        lock (gate)
        {
            lastOfferedId = Math.Max(lastOfferedId, id);
        }
    }

    /// <summary>A heartbeat is written only to a live stream that is ready for it; never queued, never counted.</summary>
    internal void OfferHeartbeat()
    {
        lock (gate)
        {
            if (!ended && output is not null && !writerBusy)
            {
                WriteNow(StreamEvent.Heartbeat.Instance.Frame);
            }
        }
    }

    /// <summary>Delivers an event. Never throws, whatever state the subscription is in: deliveries take a snapshot of
    /// the subscribers, so one may arrive after the stream has left.</summary>
    internal void Offer(StreamEvent streamEvent)
    {
        lock (gate)
        {
            if (ended)
            {
                return;
            }
            if (streamEvent is StreamEvent.Stored stored)
            {
                if (stored.Message.Id <= lastOfferedId)
                {
                    return;
                }
                lastOfferedId = stored.Message.Id;
            }
            if (output is not null && !writerBusy)
            {
                WriteNow(streamEvent.Frame);
                return;
            }
            if (backlog.Count < capacity)
            {
                backlog.Enqueue(streamEvent);
                return;
            }
        }
        CutOff();
    }

    /// <summary>Drops the subscriber for falling behind: its stream ends, and the client resumes from its last event id.</summary>
    internal void CutOff()
    {
        lock (gate)
        {
            if (ended)
            {
                return;
            }
            Overflowed = true;
            End();
        }
        // Outside the lock: cancelling runs the stream's callbacks, and leaving the hub takes the topic's lock.
        leave(this);
        cutOff.Cancel();
        Wake();
    }

    /// <summary>
    /// The live part of the stream, after the replay from the store up to <paramref name="lastSent"/>: writes what
    /// was offered meanwhile, then lets deliveries write to <paramref name="connection"/> directly, taking over
    /// whenever a flush is pending. Completes when the subscription ends; throws what writing to the connection threw.
    /// Nothing more is written once <paramref name="clientGone"/> is cancelled.
    /// </summary>
    public async Task DeliverLiveAsync(PipeWriter connection, long lastSent, CancellationToken clientGone)
    {
        lock (gate)
        {
            lastOfferedId = Math.Max(lastOfferedId, lastSent);
            connectionGone = clientGone;
            output = connection;
            writerBusy = true; // the backlog first: deliveries queue behind it until it is written
        }
        while (true)
        {
            Task? woken = null;
            ValueTask<FlushResult> flush;
            lock (gate)
            {
                if (ended)
                {
                    return;
                }
                if (handedOver)
                {
                    flush = pendingFlush;
                    (pendingFlush, handedOver) = (default, false);
                }
                else if (writerBusy)
                {
                    flush = WriteBacklog(lastSent);
                }
                else
                {
                    flush = default;
                    woken = (wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).Task;
                }
                awaitingFlush = woken is null && !flush.IsCompleted;
            }
            if (woken is not null)
            {
                await woken;
                continue;
            }
            var result = await flush;
            lock (gate)
            {
                awaitingFlush = false;
                writerBusy = backlog.Count > 0;
            }
            if (result.IsCompleted || result.IsCanceled)
            {
                return; // the connection is gone, or the subscription ended while the flush waited
            }
        }
    }

    /// <summary>Writes the backlog and starts its flush; under the gate.</summary>
    private ValueTask<FlushResult> WriteBacklog(long lastSent)
    {
        while (backlog.TryDequeue(out var streamEvent))
        {
            // The replay may have sent what was offered while it ran.
            if (streamEvent is not StreamEvent.Stored stored || stored.Message.Id > lastSent)
            {
                output!.Write(streamEvent.Frame);
            }
        }
        return output!.FlushAsync();
    }

    /// <summary>Writes a frame and flushes it on this thread; a flush that cannot complete at once is handed to the
    /// stream's task, and what comes meanwhile waits in the backlog. Under the gate.</summary>
    private void WriteNow(byte[] frame)
    {
        if (connectionGone.IsCancellationRequested)
        {
            return;
        }
        ValueTask<FlushResult> flush;
        try
        {
            var connection = output!;
            connection.Write(frame);
            flush = connection.FlushAsync();
        }
        catch (Exception exception)
        {
            flush = ValueTask.FromException<FlushResult>(exception);
        }
        if (flush.IsCompletedSuccessfully)
        {
            var result = flush.Result;
            if (result is { IsCompleted: false, IsCanceled: false })
            {
                return;
            }
            flush = new ValueTask<FlushResult>(result); // a flush's ValueTask may be read only once
        }
        (pendingFlush, handedOver, writerBusy) = (flush, true, true);
        wake?.TrySetResult();
    }

    /// <summary>Stops all writing; a stream's task waiting for a client that stopped reading is let go. Under the gate.</summary>
    private void End()
    {
        ended = true;
        backlog.Clear();
        if (awaitingFlush)
        {
            output!.CancelPendingFlush();
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            if (ended)
            {
                return;
            }
            End();
        }
        leave(this);
        Wake();
    }

    private void Wake()
    {
        TaskCompletionSource? toWake;
        lock (gate)
        {
            toWake = wake;
        }
        toWake?.TrySetResult();
    }
}
