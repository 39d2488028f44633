using System.Globalization;
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
    public static IEndpointRouteBuilder MapMessagesApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api").AddEndpointFilter<RequireMigratedDatabase>().WithDatabaseProblems();

        api.MapPost("/topics/{topic}/messages", Publish)
            .WithName("PublishMessage")
            .WithSummary("Publish a message to a topic")
            .WithDescription("The body is JSON {\"text\", \"author\"} or text/plain (the text; author in X-Author). 201 is sent only after the message is committed.")
            .Accepts<PublishRequest>("application/json", "text/plain")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .RequireRateLimiting(RateLimitPolicies.Publish);
        api.MapGet("/topics/{topic}/messages", ListMessages)
            .WithName("ListMessages")
            .WithSummary("Read a page of a topic's messages, in ascending id order")
            .WithDescription("No cursor: the latest `limit` (1..200, default 50). `after`: the first `limit` above that id. `before`: the last `limit` below it.")
            .ProducesProblem(StatusCodes.Status400BadRequest);
        api.MapGet("/topics", ListTopics).WithName("ListTopics").WithSummary("List topics with their message count and last message time");
        api.MapGet("/messages/{id}", GetMessage)
            .WithName("GetMessage").WithSummary("Read one message").ProducesProblem(StatusCodes.Status404NotFound);
        api.MapDelete("/messages/{id}", DeleteMessage)
            .WithName("DeleteMessage").WithSummary("Delete one message").ProducesProblem(StatusCodes.Status404NotFound);
        return routes;
    }

    public static async Task<Results<Created<Message>, ProblemHttpResult>> Publish(
        string topic, HttpRequest request, MessagePublisher publisher, CancellationToken cancellationToken)
    {
        if (InputRules.CheckTopic(topic) is { } topicError)
        {
            return Problems.Invalid("topic", topicError);
        }
        var (newMessage, problem) = await PublishRequestReader.ReadAsync(topic, request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var message = await publisher.PublishAsync(newMessage!, cancellationToken);
        return TypedResults.Created($"/api/messages/{message.Id}", message);
    }

    public static async Task<Results<Ok<MessageList>, ProblemHttpResult>> ListMessages(
        string topic, HttpRequest request, IMessageStore store, CancellationToken cancellationToken)
    {
        if (InputRules.CheckTopic(topic) is { } topicError)
        {
            return Problems.Invalid("topic", topicError);
        }
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
        var page = new PageQuery((int)(limit ?? InputRules.DefaultLimit), after, before);
        return TypedResults.Ok(new MessageList(await store.ListAsync(topic, page, cancellationToken)));
    }

    public static async Task<Ok<TopicList>> ListTopics(IMessageStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new TopicList(await store.ListTopicsAsync(cancellationToken)));

    public static async Task<Results<Ok<Message>, ProblemHttpResult>> GetMessage(
        string id, IMessageStore store, CancellationToken cancellationToken)
    {
        var message = TryParseId(id, out var messageId) ? await store.GetAsync(messageId, cancellationToken) : null;
        return message is null ? Problems.MessageNotFound(id) : TypedResults.Ok(message);
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteMessage(
        string id, IMessageStore store, CancellationToken cancellationToken)
    {
        var deleted = TryParseId(id, out var messageId) && await store.DeleteAsync(messageId, cancellationToken);
        return deleted ? TypedResults.NoContent() : Problems.MessageNotFound(id);
    }

    private static bool TryParseId(string id, out long messageId) =>
        long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out messageId);
}
