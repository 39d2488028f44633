namespace MessageServer.Storage;

/// <summary>Answers 503 while the schema is not in place yet, instead of failing on missing tables.</summary>
public sealed class RequireMigratedDatabase(DatabaseState state) : IEndpointFilter
{
    public ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next) =>
        state.IsMigrated ? next(context) : ValueTask.FromResult<object?>(DatabaseUnavailable.Problem(context.HttpContext, DatabaseUnavailable.NotMigratedDetail));
}
