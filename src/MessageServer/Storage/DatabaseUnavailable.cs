using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace MessageServer.Storage;

/// <summary>
/// A database that is down or busy is a state, not a bug: clients get 503 problem+json with Retry-After
/// (never a 500 or a stack trace) and the server carries on once the database is back.
/// </summary>
public sealed class DatabaseUnavailable(ILogger<DatabaseUnavailable> logger) : IExceptionHandler
{
    public const string NotMigratedDetail = "The server is still connecting to its database; try again shortly.";
    public const string RetryAfterSeconds = "5";

    public static ProblemHttpResult Problem(HttpContext context, string detail)
    {
        context.Response.Headers.RetryAfter = RetryAfterSeconds;
        return TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Database unavailable", detail: detail);
    }

    public static bool IsUnavailable(Exception exception) => exception switch
    {
        NpgsqlException npgsql => npgsql.IsTransient,
        SqliteException sqlite => sqlite.SqliteErrorCode is 5 /* BUSY */ or 6 /* LOCKED */ or 10 /* IOERR */ or 13 /* FULL */,
        TimeoutException => true,
        _ => false,
    };

    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsUnavailable(exception))
        {
            return false;
        }
        Operations.ServerMetrics.DatabaseErrors.WithLabels("request").Inc();
        logger.LogWarning("Database unavailable for {Method} {Path}: {Reason}", httpContext.Request.Method, httpContext.Request.Path, exception.Message);
        await Problem(httpContext, "The database is not answering right now; try again shortly.").ExecuteAsync(httpContext);
        return true;
    }
}
