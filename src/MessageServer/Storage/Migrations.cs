using DbUp.Builder;

namespace MessageServer.Storage;

/// <summary>A migration script ran and failed: the schema stays as it was until someone fixes the cause.</summary>
public sealed class MigrationFailedException(string script, Exception error)
    : Exception($"the database migration {script} failed: {error.Message}", error)
{
    public string Script { get; } = script;
}

/// <summary>Runs the versioned SQL scripts embedded under Storage/{store}/Migrations with DbUp, each in its own transaction.</summary>
internal static class Migrations
{
    public static void Apply(UpgradeEngineBuilder target, string store, ILoggerFactory loggerFactory)
    {
        var result = target
            .WithScriptsEmbeddedInAssembly(typeof(Migrations).Assembly, name => name.Contains($".Storage.{store}.Migrations.", StringComparison.Ordinal))
            .WithTransactionPerScript()
            // DbUp narrates every step; its category stays quiet unless something goes wrong.
            .LogTo(loggerFactory.CreateLogger("MessageServer.Storage.Migrations"))
            .Build()
            .PerformUpgrade();
        if (!result.Successful)
        {
            // A script that ran and failed needs a person; failing to reach the database before any script ran is
            // an outage to wait out.
            if (result.ErrorScript is { } script && !DatabaseUnavailable.IsUnavailable(result.Error))
            {
                throw new MigrationFailedException(script.Name, result.Error);
            }
            throw new InvalidOperationException($"Could not migrate the database: {result.Error.Message}", result.Error);
        }
        var applied = result.Scripts.Select(script => script.Name).ToList();
        if (applied.Count > 0)
        {
            loggerFactory.CreateLogger(typeof(Migrations)).LogInformation("Applied {Count} migration(s): {Scripts}", applied.Count, string.Join(", ", applied));
        }
    }
}
