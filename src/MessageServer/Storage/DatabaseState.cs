namespace MessageServer.Storage;

/// <summary>Whether the schema is in place; until then the API answers 503 instead of failing on missing tables.</summary>
public sealed class DatabaseState
{
    private readonly TaskCompletionSource migrated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsMigrated => migrated.Task.IsCompleted;

    /// <summary>Why the schema could not be migrated (a script failed), or null: a state that needs a person, unlike an unreachable database.</summary>
    public string? MigrationFailure { get; set; }

    public void MarkMigrated() => migrated.TrySetResult();

    public Task WaitUntilMigratedAsync(CancellationToken cancellationToken) => migrated.Task.WaitAsync(cancellationToken);
}
