namespace MessageServer.Storage;

/// <summary>Answers 503 while the schema is not in place yet, instead of failing on missing tables.</summary>
public sealed class RequireMigratedDatabase(DatabaseState state) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        state.IsMigrated ? next(context) : ValueTask.FromResult<object?>(DatabaseUnavailable.Problem(context.HttpContext, DatabaseUnavailable.NotMigratedDetail));
}

public static class DatabaseProblemsConvention
{
    /// <summary>Documents the 503 (with Retry-After) every database-backed endpoint may answer.</summary>
    public static RouteGroupBuilder WithDatabaseProblems(this RouteGroupBuilder group) =>
        group.ProducesProblem(StatusCodes.Status503ServiceUnavailable);

    /// <summary>Documents the 401 and 403 of the access rules (AUTH_DEFAULT_ACCESS and tokens).</summary>
    public static RouteGroupBuilder WithAccessProblems(this RouteGroupBuilder group) =>
        group.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
}
