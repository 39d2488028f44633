namespace MessageServer.Storage;

/// <summary>Whether the schema is in place; until then the API answers 503 instead of failing on missing tables.</summary>
public sealed class DatabaseState
{
    private volatile bool migrated;

    public bool IsMigrated => migrated;

    public void MarkMigrated() => migrated = true;
}
