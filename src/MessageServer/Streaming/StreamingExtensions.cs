using MessageServer.ChangeFeed;

namespace MessageServer.Streaming;

public static class StreamingExtensions
{
    /// <summary>Live streams: the hub of subscribers (a change-feed consumer) and the gate on replays while streams open.</summary>
    public static IServiceCollection AddStreaming(this IServiceCollection services)
    {
        services.AddSingleton<MessageHub>();
        services.AddSingleton<IChangeConsumer>(provider => provider.GetRequiredService<MessageHub>());
        services.AddSingleton<StreamReplayGate>();
        return services;
    }
}
