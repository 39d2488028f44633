namespace MessageServer.Messages;

/// <summary>
/// Checks the route's {topic} against the topic rule before anything else looks at it, so a malformed name is
/// always a 400 naming the field, never a 401, 403 or 503 that a retry or a token could not fix.
/// </summary>
public sealed class RequireValidTopic : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        context.HttpContext.GetRouteValue("topic") is string topic && InputRules.CheckTopic(topic) is { } topicError
            ? ValueTask.FromResult<object?>(Problems.Invalid("topic", topicError))
            : next(context);
}

public static class ValidTopicConvention
{
    /// <summary>Every endpoint of the group with a {topic} in its route answers 400 for a malformed one.</summary>
    public static RouteGroupBuilder RequireValidTopic(this RouteGroupBuilder group) =>
        group.AddEndpointFilter<RequireValidTopic>();
}
