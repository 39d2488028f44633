using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Messages;

/// <summary>The RFC 9457 problem responses of the API; each says what went wrong and what to send instead.</summary>
public static class Problems
{
    /// <summary>A 400 that names the offending field, in the same "errors" shape ASP.NET Core's validation uses.</summary>
    public static ProblemHttpResult Invalid(string field, string message) => TypedResults.Problem(
        statusCode: StatusCodes.Status400BadRequest,
        title: "Invalid input",
        detail: message,
        extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [message] } });

    public static ProblemHttpResult BadRequest(string message) =>
        TypedResults.Problem(statusCode: StatusCodes.Status400BadRequest, title: "Invalid request body", detail: message);

    public static ProblemHttpResult TooLarge() => TypedResults.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "Request body too large",
        detail: $"The body must be at most {InputRules.MaxBodyBytes} bytes.");

    public static ProblemHttpResult UnsupportedMediaType(string? contentType) => TypedResults.Problem(
        statusCode: StatusCodes.Status415UnsupportedMediaType,
        title: "Unsupported content type",
        detail: $"Send Content-Type application/json ({{\"text\": \"...\", \"author\": \"...\"}}) or text/plain in UTF-8, got '{contentType ?? "none"}'.");

    public static ProblemHttpResult MessageNotFound(string id) => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound,
        title: "Message not found",
        detail: $"There is no message with id '{id}'.");
}
