using System.Runtime.CompilerServices;
using MessageServer.Messages;

namespace MessageServer.Storage;

public static class MessageStoreExtensions
{
    private const int PageSize = InputRules.MaxLimit;

    /// <summary>Every message of a topic with an id above <paramref name="after"/>, page by page, in id order.</summary>
    public static async IAsyncEnumerable<IReadOnlyList<Message>> PagesAfterAsync(
        this IMessageStore store, string topic, long after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        while (true)
        {
            var page = await store.ListAsync(topic, new PageQuery(PageSize, after, null), cancellationToken);
            if (page.Count > 0)
            {
                yield return page;
                after = page[^1].Id;
            }
            if (page.Count < PageSize)
            {
                yield break;
            }
        }
    }
}
