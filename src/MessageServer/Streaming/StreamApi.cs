using System.Buffers;
using System.Globalization;
using System.Text;
using MessageServer.Messages;
using MessageServer.Security;
using MessageServer.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Streaming;

/// <summary>
/// GET /api/topics/{topic}/stream   Server-Sent Events: replay after Last-Event-ID (or ?after), then live.
/// </summary>
/// <remarks>
/// Written by hand rather than with TypedResults.ServerSentEvents because the stream needs comment
/// heartbeats, a reconnection hint on shutdown, and headers flushed before the first event.
/// </remarks>
public static class StreamApi
{
    private const int ReconnectMilliseconds = 2000;

    // Clock differences between instances and the database that a resume's search for missed deletes allows for.
    private static readonly TimeSpan ClockAllowance = TimeSpan.FromMinutes(1);

    public static IEndpointRouteBuilder MapStreamApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/topics/{topic}/stream", Stream)
            .WithName("StreamTopic")
            .WithSummary("Watch a topic live (text/event-stream); resumes after Last-Event-ID or ?after")
            .WithDescription("Each message is an event `id: <id>`, `event: message`, `data: <message JSON>`; deletions are `event: deleted` with `data: {\"id\": N}`. Comment heartbeats keep idle streams open.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .RequireRateLimiting(RateLimitPolicies.Stream)
            .AddEndpointFilter(new RequireTopicAccess(Right.Read));
        return api;
    }

    public static async Task<Results<EmptyHttpResult, ProblemHttpResult>> Stream(
        string topic, HttpContext context, MessageHub hub, IMessageStore store, StreamReplayGate replayGate, AccessControl access,
        StreamAccessWatch accessWatch, IHostApplicationLifetime lifetime, ILoggerFactory loggers, CancellationToken cancellationToken)
    {
        var (cursor, cursorField, cursorError) = ReadCursor(context.Request);
        if (cursorError is not null)
        {
            return Problems.Invalid(cursorField, cursorError);
        }

        // The filter has identified the caller already; this reads it back. The stream lasts only as long as
        // the caller's token keeps the right to read the topic.
        var (caller, callerProblem) = await access.IdentifyAsync(context, cancellationToken);
        if (callerProblem is not null)
        {
            return callerProblem;
        }
        using var watch = accessWatch.Watch(caller!, topic);

        // Subscribe before reading the store: whatever commits from now on reaches the subscription, and
        // whatever committed before is in the store. Ids seen in the replay are skipped live, so the seam has
        // neither a gap nor a duplicate.
        using var subscription = hub.Subscribe(topic, cursor ?? 0);
        var replaySlot = await replayGate.EnterAsync(cancellationToken);
        long lastSent;
        try
        {
            lastSent = cursor ?? await store.LatestIdAsync(topic, cancellationToken);
        }
        catch
        {
            replaySlot.Dispose();
            throw; // before the response has started: a database outage is still a clean 503
        }
        subscription.SkipThrough(lastSent);

        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping, subscription.CutOffToken, watch.Ended);
        var token = stopping.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache, no-transform";
        response.Headers["X-Accel-Buffering"] = "no";
        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        try
        {
            using (replaySlot)
            {
                await WriteAsync(response, $"retry: {ReconnectMilliseconds}\n: connected to {topic}\n\n", token);
                if (cursor is { } resumedAfter)
                {
                    await ReplayDeletesAsync(response, store, topic, resumedAfter, token);
                }
                lastSent = await ReplayAsync(response, store, topic, lastSent, token);
            }
            // Whatever ends the stream ends the subscription, once: no cancellable wait per event, for every subscriber.
            using (token.UnsafeRegister(static state => ((Subscription)state!).Dispose(), subscription))
            {
                await subscription.DeliverLiveAsync(response.BodyWriter, lastSent, cancellationToken);
            }
            token.ThrowIfCancellationRequested();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            // The client left, the server is stopping, the subscriber fell too far behind, or the token lost its right.
        }
        catch (Exception exception) when (DatabaseUnavailable.IsUnavailable(exception))
        {
            // The response has started, so no 503 can be sent: end the stream, and the client resumes from the
            // last event it got once the database is back.
            loggers.CreateLogger(typeof(StreamApi).FullName!).LogWarning("A stream of '{Topic}' ended while replaying: the database is unavailable ({Reason})", topic, exception.Message);
        }
        var lastWordsTaken = true;
        if (watch.Reason is { } revoked && !cancellationToken.IsCancellationRequested)
        {
            // Say why, so that the client stops instead of reconnecting with a token that no longer works.
            lastWordsTaken = await WriteLastWordsAsync(response, SseFrames.Revoked(revoked));
        }
        else if (lifetime.ApplicationStopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Another instance (or this one, restarted) takes over: ask the client to come back soon.
            lastWordsTaken = await WriteLastWordsAsync(response, Encoding.UTF8.GetBytes($"retry: {ReconnectMilliseconds / 2}\n: server shutting down, reconnect\n\n"));
        }
        if (subscription.Overflowed || !lastWordsTaken)
        {
            // What is still buffered for it cannot be delivered in time (nor could the end of the response, which
            // would hold a shutdown until its timeout): drop the connection (on HTTP/2 only this stream) and free the
            // buffers; the client resumes from the last event id it did receive.
            context.Abort();
        }
        return TypedResults.Empty;
    }

    private static (long? Cursor, string Field, string? Error) ReadCursor(HttpRequest request)
    {
        // An empty Last-Event-ID means none (what EventSource sends before it has seen an id).
        if (request.Headers.TryGetValue("Last-Event-ID", out var header) && !string.IsNullOrWhiteSpace(header))
        {
            return long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? (id, "Last-Event-ID", null)
                : (null, "Last-Event-ID", $"Last-Event-ID must be a message id (a whole number from 0 to {long.MaxValue}), got '{header}'.");
        }
        var (after, error) = InputRules.ParseQueryNumber(request.Query, "after", 0, long.MaxValue);
        return (after, "after", error);
    }

    /// <summary>
    /// A client resuming after <paramref name="cursor"/> may have missed deletes of messages it already has: it gets
    /// a deleted event for each message at or below the cursor deleted since the cursor's message was published
    /// (it was connected then, so it heard of anything earlier), as far back as tombstones are kept.
    /// </summary>
    private static async Task ReplayDeletesAsync(HttpResponse response, IMessageStore store, string topic, long cursor, CancellationToken token)
    {
        var newestSeen = await store.ListAsync(topic, new PageQuery(1, null, cursor == long.MaxValue ? cursor : cursor + 1), token);
        var missedFor = newestSeen.Count == 0 ? Tombstones.KeptFor : DateTime.UtcNow - newestSeen[0].CreatedAt + ClockAllowance;
        var deleted = await store.DeletedAsync(topic, cursor, missedFor, token);
        foreach (var id in deleted)
        {
            response.BodyWriter.Write(SseFrames.Deleted(id));
        }
        if (deleted.Count > 0)
        {
            await response.BodyWriter.FlushAsync(token);
        }
    }

    private static async Task<long> ReplayAsync(HttpResponse response, IMessageStore store, string topic, long after, CancellationToken token)
    {
        await foreach (var page in store.PagesAfterAsync(topic, after, token))
        {
            foreach (var message in page)
            {
                response.BodyWriter.Write(SseFrames.Message(message));
            }
            await response.BodyWriter.FlushAsync(token);
            after = page[^1].Id;
        }
        return after;
    }

    /// <summary>One more frame after the stream's own token was cancelled, given a second at most; false when the
    /// client did not take it in that time.</summary>
    private static async Task<bool> WriteLastWordsAsync(HttpResponse response, byte[] frame)
    {
        using var grace = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            response.BodyWriter.Write(frame);
            var flushed = await response.BodyWriter.FlushAsync(grace.Token);
            return !flushed.IsCanceled;
        }
        catch (Exception exception) when (exception is OperationCanceledException or IOException)
        {
            // A client that cannot take one more frame learns the rest when it reconnects.
            return false;
        }
    }

    private static async Task WriteAsync(HttpResponse response, string text, CancellationToken token)
    {
        Encoding.UTF8.GetBytes(text, response.BodyWriter);
        await response.BodyWriter.FlushAsync(token);
    }
}
