using System.Buffers;
using System.Globalization;
using MessageServer.ChangeFeed;
using MessageServer.Security;
using MessageServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Messages;

/// <summary>
/// POST /api/topics/{topic}/messages   publish (JSON or text/plain) → 201 after commit
/// GET  /api/topics/{topic}/messages   a page of a topic, ascending ids (?limit, ?after, ?before)
/// GET  /api/topics                    every topic with its count and last message time
/// GET  /api/messages/{id}             one message
/// DELETE /api/messages/{id}           remove one message
/// </summary>
public static class MessagesApi
{
    /// <summary>Maps the endpoints onto <paramref name="api"/>, the /api group (which checks {topic} and the database).</summary>
    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder api)
    {
        api.MapPost("/topics/{topic}/messages", Publish)
            .WithName("PublishMessage")
            .WithSummary("Publish a message to a topic")
            .WithDescription("The body is JSON {\"text\", \"author\"} or text/plain (the text; author in X-Author). 201 is sent only after the message is committed.")
            .Accepts<PublishRequest>("application/json", "text/plain")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .RequireRateLimiting(RateLimitPolicies.Publish)
            .AddEndpointFilter(new RequireTopicAccess(Right.Write));
        api.MapGet("/topics/{topic}/messages", ListMessages)
            .WithName("ListMessages")
            .WithSummary("Read a page of a topic's messages, in ascending id order")
            .WithDescription("No cursor: the latest `limit` (1..200, default 50). `after`: the first `limit` above that id. `before`: the last `limit` below it.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .AddEndpointFilter(new RequireTopicAccess(Right.Read));
        api.MapGet("/topics", ListTopics).WithName("ListTopics").WithSummary("List topics with their message count and last message time");
        api.MapGet("/messages/{id}", GetMessage)
            .WithName("GetMessage").WithSummary("Read one message").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapDelete("/messages/{id}", DeleteMessage)
            .WithName("DeleteMessage").WithSummary("Delete one message").ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    public static async Task<Results<Created<Message>, ProblemHttpResult>> Publish(
        string topic, HttpRequest request, MessagePublisher publisher, AccessControl access, CancellationToken cancellationToken)
    {
        var (newMessage, problem) = await PublishRequestReader.ReadAsync(topic, request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        // The filter has identified the caller already; this reads it back.
        var (caller, callerProblem) = await access.IdentifyAsync(request.HttpContext, cancellationToken);
        if (callerProblem is not null)
        {
            return callerProblem;
        }
        var (key, keyError) = Idempotency.Read(request, caller!.CredentialScope(request.HttpContext), newMessage!.Topic, newMessage.Author, newMessage.Text);
        if (keyError is not null)
        {
            return Problems.Invalid(Idempotency.Header, keyError);
        }
        switch (await publisher.PublishAsync(newMessage with { Idempotency = key }, cancellationToken))
        {
            case PublishOutcome.Appended appended:
                return TypedResults.Created($"/api/messages/{appended.Message.Id}", appended.Message);
            case PublishOutcome.Replayed replayed:
                request.HttpContext.Response.Headers["Idempotent-Replayed"] = "true";
                return TypedResults.Created($"/api/messages/{replayed.Message.Id}", replayed.Message);
            default:
                return TypedResults.Problem(statusCode: StatusCodes.Status422UnprocessableEntity, title: "Idempotency-Key reused",
                    detail: $"The {Idempotency.Header} '{request.Headers[Idempotency.Header]}' was used in the last {Idempotency.Window.TotalHours:0} hours for a different request; use a new key for a new message.");
        }
    }

    public static async Task<Results<Ok<MessageList>, ReadyJson, ProblemHttpResult>> ListMessages(
        string topic, HttpRequest request, IMessageStore store, TopicWindows windows, CancellationToken cancellationToken)
    {
        var (limit, limitError) = InputRules.ParseQueryNumber(request.Query, "limit", 1, InputRules.MaxLimit);
        var (after, afterError) = InputRules.ParseQueryNumber(request.Query, "after", 0, long.MaxValue);
        var (before, beforeError) = InputRules.ParseQueryNumber(request.Query, "before", 0, long.MaxValue);
        if (limitError is not null)
        {
            return Problems.Invalid("limit", limitError);
        }
        if (afterError is not null)
        {
            return Problems.Invalid("after", afterError);
        }
        if (beforeError is not null)
        {
            return Problems.Invalid("before", beforeError);
        }
        var pageSize = (int)(limit ?? InputRules.DefaultLimit);
        if (after is not null || before is not null)
        {
            return TypedResults.Ok(new MessageList(await store.ListAsync(topic, new PageQuery(pageSize, after, before), cancellationToken)));
        }
        // The latest page, the common read: from memory when the topic's window is there, else from the store,
        // reading a whole window so the next reads need no database round trip.
        if (windows.TryGetLatest(topic, pageSize, out var json))
        {
            return new ReadyJson(json);
        }
        var generation = windows.Generation(topic);
        var latest = await store.ListAsync(topic, new PageQuery(TopicWindows.Size, null, null), cancellationToken);
        windows.Load(topic, latest, generation);
        return TypedResults.Ok(new MessageList(latest.Count > pageSize ? latest.Skip(latest.Count - pageSize).ToList() : latest));
    }

    /// <summary>The topics the caller may read.</summary>
    public static async Task<Results<Ok<TopicList>, ProblemHttpResult>> ListTopics(
        HttpContext context, IMessageStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (caller, problem) = await access.IdentifyAsync(context, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        if (caller!.IsAnonymous && caller.Read == TopicPatterns.Nothing)
        {
            return (await access.CheckAsync(context, "", Right.Read, cancellationToken))!;
        }
        var topics = await store.ListTopicsAsync(cancellationToken);
        return TypedResults.Ok(new TopicList([.. topics.Where(topic => caller.May(Right.Read, topic.Name))]));
    }

    public static async Task<Results<Ok<Message>, ProblemHttpResult>> GetMessage(
        string id, HttpContext context, IMessageStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (message, problem) = await FindAsync(id, Right.Read, context, store, access, cancellationToken);
        return problem ?? (Results<Ok<Message>, ProblemHttpResult>)TypedResults.Ok(message!);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteMessage(
        string id, HttpContext context, IMessageStore store, IChangeFeed changeFeed, AccessControl access, CancellationToken cancellationToken)
    {
        var (message, problem) = await FindAsync(id, Right.Write, context, store, access, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        if (!await store.DeleteAsync(message!.Id, cancellationToken))
        {
            return Problems.MessageNotFound(id);
        }
        changeFeed.Deleted([new DeletedMessage(message.Topic, message.Id)]);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// The message with that id if the caller may <paramref name="right"/> its topic, else the 401/403/404. A message
    /// in a topic the caller may not read gets the very 404 of a missing one: ids are no way to learn topics or
    /// which messages exist.
    /// </summary>
    private static async Task<(Message? Message, ProblemHttpResult? Problem)> FindAsync(
        string id, Right right, HttpContext context, IMessageStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (caller, problem) = await access.IdentifyAsync(context, cancellationToken);
        if (problem is not null)
        {
            return (null, problem);
        }
        var message = TryParseId(id, out var messageId) ? await store.GetAsync(messageId, cancellationToken) : null;
        if (message is null || !caller!.May(Right.Read, message.Topic))
        {
            return (null, Problems.MessageNotFound(id));
        }
        return (message, await access.CheckAsync(context, message.Topic, right, cancellationToken));
    }

    private static bool TryParseId(string id, out long messageId) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out messageId);
}

/// <summary>
/// JSON serialised ahead (a latest page from memory), written as it is: unlike a file result it has no ranges
/// or conditional requests to consider, which is measurable on the hottest read.
/// </summary>
public sealed class ReadyJson(byte[] json) : IResult
{
    public Task ExecuteAsync(HttpContext httpContext)
    {
        var response = httpContext.Response;
        response.ContentType = "application/json";
        response.ContentLength = json.Length;
        response.BodyWriter.Write(json);
        return Task.CompletedTask;
    }
}
