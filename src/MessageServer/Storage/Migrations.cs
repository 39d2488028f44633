using DbUp.Builder;

namespace MessageServer.Storage;

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
            throw new InvalidOperationException($"Migration {result.ErrorScript?.Name} failed: {result.Error.Message}", result.Error);
        }
        var applied = result.Scripts.Select(script => script.Name).ToList();
        if (applied.Count > 0)
        {
            loggerFactory.CreateLogger(typeof(Migrations)).LogInformation("Applied {Count} migration(s): {Scripts}", applied.Count, string.Join(", ", applied));
        }
    }
}
