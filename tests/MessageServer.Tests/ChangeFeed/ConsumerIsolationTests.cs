using System.Net;
using MessageServer.ChangeFeed;
using MessageServer.Messages;
using MessageServer.Storage;
using MessageServer.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using static MessageServer.Tests.Infrastructure.ApiClient;

namespace MessageServer.Tests.ChangeFeed;

/// <summary>
/// Consumers cannot hurt producers: a consumer of the change feed that throws on every change fails no publish
/// and no delete, and every other consumer (live subscribers, the read windows) still gets every change.
/// </summary>
public abstract class ConsumerIsolationContract
{
    protected abstract Task<Dictionary<string, string?>> CreateSettingsAsync();

    [Fact]
    public async Task A_consumer_that_throws_fails_no_publish_and_costs_the_others_nothing()
    {
        await using var server = await MessageServerHost.StartAsync(await CreateSettingsAsync(), configureServices: services =>
        {
            services.AddSingleton<IChangeConsumer>(new ThrowingConsumer(needsCommitOrder: true));
            services.AddSingleton<IChangeConsumer>(new ThrowingConsumer(needsCommitOrder: false));
        });
        var topic = UniqueTopic();
        Assert.Empty(await server.Client.ListAsync(topic)); // the topic's latest page is now served from memory
        await using var subscriber = await SseClient.ConnectAsync(server.BaseAddress, $"/api/topics/{topic}/stream");

        var published = new List<long>();
        for (var i = 0; i < 20; i++)
        {
            published.Add((await server.Client.PublishAsync(topic, $"message {i}")).Id);
        }
        using var delete = await server.Client.DeleteAsync($"/api/messages/{published[0]}");

        Assert.Equal(HttpStatusCode.NoContent, delete.StatusCode);
        Assert.Equal(published, (await subscriber.ReadMessagesAsync(published.Count)).Select(m => m.Id));
        Assert.Equal("deleted", (await subscriber.NextAsync()).Event);
        Assert.Equal(published.Skip(1), (await server.Client.ListAsync(topic)).Select(m => m.Id));
    }

    private sealed class ThrowingConsumer(bool needsCommitOrder) : IChangeConsumer
    {
        public bool NeedsCommitOrder => needsCommitOrder;

        public void OnStored(Message message) => throw new InvalidOperationException("a broken consumer");

        public void OnDeleted(DeletedMessage deleted) => throw new InvalidOperationException("a broken consumer");

        public Task CatchUpAsync(IMessageStore store, TimeSpan missedFor, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

public sealed class SqliteConsumerIsolationTests : ConsumerIsolationContract, IDisposable
{
    private readonly TemporaryDirectory directory = new("ms-isolation-");

    protected override Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        Task.FromResult(MessageServerHost.SqliteSettings(directory.FullName));

    public void Dispose() => directory.Dispose();
}

public sealed class PostgresConsumerIsolationTests(PostgresFixture postgres) : ConsumerIsolationContract
{
    protected override async Task<Dictionary<string, string?>> CreateSettingsAsync() =>
        postgres.Server.SettingsFor(await postgres.Server.CreateDatabaseAsync());
}
