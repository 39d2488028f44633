namespace MessageServer.Storage;

/// <summary>Answers 503 while the schema is not in place yet, instead of failing on missing tables.</summary>
public sealed class RequireMigratedDatabase(DatabaseState state) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        state.IsMigrated ? next(context) : ValueTask.FromResult<object?>(DatabaseUnavailable.Problem(context.HttpContext, DatabaseUnavailable.NotMigratedDetail));
}

public static class MigratedDatabaseConvention
{
    /// <summary>
    /// Every endpoint of the group answers 503 (with Retry-After) until the schema is in place, and documents the 503
    /// every database-backed endpoint may answer.
    /// </summary>
    public static RouteGroupBuilder RequireMigratedDatabase(this RouteGroupBuilder group) =>
        group.AddEndpointFilter<RequireMigratedDatabase>().ProducesProblem(StatusCodes.Status503ServiceUnavailable);
}
