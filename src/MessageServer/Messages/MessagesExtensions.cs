using MessageServer.ChangeFeed;

namespace MessageServer.Messages;

public static class MessagesExtensions
{
    /// <summary>
    /// Messages: the group-commit publisher, the in-memory latest pages (kept current by the change feed) and the
    /// JSON of the message types.
    /// </summary>
    public static IServiceCollection AddMessages(this IServiceCollection services)
    {
        services.AddSingleton<MessagePublisher>();
        services.AddSingleton<TopicWindows>();
        services.AddSingleton<IChangeConsumer>(provider => provider.GetRequiredService<TopicWindows>());
        services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, MessageJsonContext.Default));
        return services;
    }
}
