namespace MessageServer.Storage;

/// <summary>Whether the schema is in place; until then the API answers 503 instead of failing on missing tables.</summary>
public sealed class DatabaseState
{
    private readonly TaskCompletionSource migrated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsMigrated => migrated.Task.IsCompleted;

    public void MarkMigrated() => migrated.TrySetResult();

    public Task WaitUntilMigratedAsync(CancellationToken cancellationToken) => migrated.Task.WaitAsync(cancellationToken);
}
