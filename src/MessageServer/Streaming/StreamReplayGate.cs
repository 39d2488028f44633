namespace MessageServer.Streaming;

/// <summary>
/// How many streams may read the store at once while they open (the latest id, missed deletes, the replay). A
/// storm of reconnecting subscribers then waits its turn instead of taking every database connection: with
/// several instances on one PostgreSQL it would otherwise exhaust the server's connections and fail publishes.
/// </summary>
public sealed class StreamReplayGate : IDisposable
{
    public const int Concurrency = 8;

    private readonly SemaphoreSlim slots = new(Concurrency, Concurrency);

    public void Dispose() => slots.Dispose();

    /// <summary>Waits for a slot; disposing the result frees it.</summary>
    public async Task<IDisposable> EnterAsync(CancellationToken cancellationToken)
    {
        await slots.WaitAsync(cancellationToken);
        return new Slot(slots);
    }

    private sealed class Slot(SemaphoreSlim slots) : IDisposable
    {
        private int released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref released, 1) == 0)
            {
                slots.Release();
            }
        }
    }
}
