using MessageServer.Messages;

namespace MessageServer.Search;

/// <summary>Full-text search over the stored messages; one implementation per store, both held to one contract suite.</summary>
public interface IMessageSearch
{
    /// <summary>The newest matches first (descending id), at most <see cref="SearchRequest.Limit"/>.</summary>
    Task<IReadOnlyList<Message>> SearchAsync(SearchRequest request, CancellationToken cancellationToken);
}

/// <summary>
/// What to look for and where: in one <see cref="Topic"/>, or in every topic that one of <see cref="TopicPatterns"/>
/// matches (null: every topic). Only matches with an id below <see cref="Before"/> count, when it is given.
/// </summary>
public sealed record SearchRequest(SearchQuery Query, string? Topic, IReadOnlyList<string>? TopicPatterns, int Limit, long? Before)
{
    public long BeforeId => Before ?? long.MaxValue;
}
