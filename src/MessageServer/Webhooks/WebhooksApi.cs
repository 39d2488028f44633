using System.Globalization;
using System.Text.Json;
using MessageServer.Messages;
using MessageServer.Security;
using MessageServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Webhooks;

/// <summary>
/// POST   /api/topics/{topic}/webhooks       create a webhook → 201 with its secret (shown this once)
/// GET    /api/topics/{topic}/webhooks       a topic's webhooks, without secrets
/// GET    /api/webhooks/{id}                 one webhook
/// DELETE /api/webhooks/{id}                 remove a webhook and its deliveries
/// GET    /api/webhooks/{id}/deliveries      its deliveries (?state=pending|failed|delivered, ?limit=)
/// POST   /api/webhooks/{id}/retry           queue the dead-lettered deliveries again → 202
/// Managing a topic's webhooks needs write access to the topic.
/// </summary>
public static class WebhooksApi
{
    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder api)
    {
        var webhooks = api.MapGroup("").WithTags("Webhooks");

        webhooks.MapPost("/topics/{topic}/webhooks", CreateWebhook)
            .WithName("CreateWebhook")
            .WithSummary("Create a webhook: every message published to the topic from now on is POSTed to the URL")
            .WithDescription("Body {\"url\": \"https://...\", \"secret\": \"whsec_...\" (optional; generated when left out)}. The answer carries the secret, the only time it is shown. Deliveries are signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).")
            .Accepts<CreateWebhookRequest>("application/json")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .AddEndpointFilter(new RequireTopicAccess(Right.Write));
        webhooks.MapGet("/topics/{topic}/webhooks", ListWebhooks)
            .WithName("ListWebhooks").WithSummary("List a topic's webhooks (without secrets)")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .AddEndpointFilter(new RequireTopicAccess(Right.Write));
        webhooks.MapGet("/webhooks/{id}", GetWebhook)
            .WithName("GetWebhook").WithSummary("Read one webhook (without its secret)")
            .ProducesProblem(StatusCodes.Status404NotFound);
        webhooks.MapDelete("/webhooks/{id}", DeleteWebhook)
            .WithName("DeleteWebhook").WithSummary("Delete a webhook and its deliveries")
            .ProducesProblem(StatusCodes.Status404NotFound);
        webhooks.MapGet("/webhooks/{id}/deliveries", ListDeliveries)
            .WithName("ListWebhookDeliveries")
            .WithSummary("List a webhook's deliveries")
            .WithDescription("`state`: pending (in the order they will be sent, messages not attempted yet included), failed (dead letters) or delivered (the newest 1000 are kept); newest first unless pending. `limit`: 1..200, default 50.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status404NotFound);
        webhooks.MapPost("/webhooks/{id}/retry", RetryDeadLetters)
            .WithName("RetryWebhookDeliveries")
            .WithSummary("Queue the webhook's dead-lettered deliveries again (and enable it again if a 410 disabled it)")
            .ProducesProblem(StatusCodes.Status404NotFound);
        return api;
    }

    public static async Task<Results<Created<WebhookView>, ProblemHttpResult>> CreateWebhook(
        string topic, HttpRequest request, IWebhookStore store, WebhookTargets targets, WebhookDeliveryWorker worker, CancellationToken cancellationToken)
    {
        var (body, problem) = await ReadCreateRequestAsync(request, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var (url, refusal, malformed) = await targets.CheckAsync(body!.Url, cancellationToken);
        if (url is null)
        {
            return malformed ? Problems.Invalid("url", refusal!) : Refused("url", refusal!);
        }
        var webhook = await store.CreateAsync(topic, url.AbsoluteUri, body.Secret ?? WebhookSignature.NewSecret(), cancellationToken);
        worker.Watch(topic);
        return TypedResults.Created($"/api/webhooks/{webhook.Id}", WebhookView.Of(webhook, withSecret: true));
    }

    public static async Task<Results<Ok<WebhookList>, ProblemHttpResult>> ListWebhooks(string topic, IWebhookStore store, CancellationToken cancellationToken)
    {
        var webhooks = await store.ListAsync(topic, cancellationToken);
        return TypedResults.Ok(new WebhookList([.. webhooks.Select(webhook => WebhookView.Of(webhook))]));
    }

    public static async Task<Results<Ok<WebhookView>, ProblemHttpResult>> GetWebhook(
        string id, HttpContext context, IWebhookStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (webhook, problem) = await FindAsync(id, context, store, access, cancellationToken);
        return problem ?? (Results<Ok<WebhookView>, ProblemHttpResult>)TypedResults.Ok(WebhookView.Of(webhook!));
    }

    public static async Task<Results<NoContent, ProblemHttpResult>> DeleteWebhook(
        string id, HttpContext context, IWebhookStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (webhook, problem) = await FindAsync(id, context, store, access, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        return await store.DeleteAsync(webhook!.Id, cancellationToken) ? TypedResults.NoContent() : NotFound(id);
    }

    public static async Task<Results<Ok<DeliveryList>, ProblemHttpResult>> ListDeliveries(
        string id, HttpContext context, IWebhookStore store, AccessControl access, CancellationToken cancellationToken)
    {
        var (webhook, problem) = await FindAsync(id, context, store, access, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var query = context.Request.Query;
        string? state = null;
        if (query.TryGetValue("state", out var states))
        {
            state = states.Count == 1 ? states[0] : null;
            if (state is null || !DeliveryStates.IsKnown(state))
            {
                return Problems.Invalid("state", $"state must be one of pending, failed or delivered, got '{states}'.");
            }
        }
        var (limit, limitError) = InputRules.ParseQueryNumber(query, "limit", 1, InputRules.MaxLimit);
        if (limitError is not null)
        {
            return Problems.Invalid("limit", limitError);
        }
        var deliveries = await store.DeliveriesAsync(webhook!.Id, state, (int)(limit ?? InputRules.DefaultLimit), cancellationToken);
        return TypedResults.Ok(new DeliveryList([.. deliveries.Select(DeliveryView.Of)]));
    }

    public static async Task<Results<Accepted<RetryAccepted>, ProblemHttpResult>> RetryDeadLetters(
        string id, HttpContext context, IWebhookStore store, AccessControl access, WebhookDeliveryWorker worker, CancellationToken cancellationToken)
    {
        var (webhook, problem) = await FindAsync(id, context, store, access, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        var requeued = await store.RetryFailedAsync(webhook!.Id, cancellationToken);
        worker.Watch(webhook.Topic);
        worker.WakeUp();
        return TypedResults.Accepted($"/api/webhooks/{webhook.Id}/deliveries?state=pending", new RetryAccepted(requeued));
    }

    /// <summary>Reads {"url", "secret"}: a JSON object of at most 64 KiB, url a string, secret absent or a Standard Webhooks secret.</summary>
    private static async Task<(CreateWebhookRequest? Body, ProblemHttpResult? Problem)> ReadCreateRequestAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasJsonContentType())
        {
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type",
                detail: $"Send Content-Type application/json with {{\"url\": \"https://...\"}}, got '{request.ContentType ?? "none"}'."));
        }
        if (request.ContentLength > InputRules.MaxBodyBytes)
        {
            return (null, Problems.TooLarge());
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[8192];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > InputRules.MaxBodyBytes)
            {
                return (null, Problems.TooLarge());
            }
            buffer.Write(chunk, 0, read);
        }
        JsonElement root;
        try
        {
            using var document = JsonDocument.Parse(buffer.ToArray());
            root = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            return (null, Problems.BadRequest("The body must be one JSON object: {\"url\": \"https://...\", \"secret\": \"whsec_...\" (optional)}."));
        }
        if (root.ValueKind != JsonValueKind.Object)
        {
            return (null, Problems.BadRequest("The body must be one JSON object: {\"url\": \"https://...\", \"secret\": \"whsec_...\" (optional)}."));
        }
        if (InputRules.FirstRepeatedProperty(root) is { } repeated)
        {
            return (null, Problems.Invalid(repeated, $"{repeated} appears more than once in the JSON body; send each field once."));
        }
        var hasUrl = root.TryGetProperty("url", out var url) && url.ValueKind != JsonValueKind.Null;
        if (hasUrl && url.ValueKind != JsonValueKind.String)
        {
            return (null, Problems.Invalid("url", "url must be a string: the http:// or https:// address to POST each message to."));
        }
        if (!hasUrl || string.IsNullOrWhiteSpace(url.GetString()))
        {
            return (null, Problems.Invalid("url", "url is required: the http:// or https:// address to POST each message to."));
        }
        string? secret = null;
        if (root.TryGetProperty("secret", out var secretElement) && secretElement.ValueKind != JsonValueKind.Null)
        {
            secret = secretElement.ValueKind == JsonValueKind.String ? secretElement.GetString() : "";
            if (WebhookSignature.CheckSecret(secret!) is { } secretError)
            {
                return (null, Problems.Invalid("secret", secretError));
            }
        }
        return (new CreateWebhookRequest(url.GetString()!.Trim(), secret), null);
    }

    /// <summary>The webhook with that id if the caller may write to its topic, else the 401/403/404.</summary>
    private static async Task<(Webhook? Webhook, ProblemHttpResult? Problem)> FindAsync(
        string id, HttpContext context, IWebhookStore store, AccessControl access, CancellationToken cancellationToken)
    {
        if ((await access.IdentifyAsync(context, cancellationToken)).Problem is { } problem)
        {
            return (null, problem);
        }
        var webhook = long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var webhookId) ? await store.GetAsync(webhookId, cancellationToken) : null;
        if (webhook is null)
        {
            return (null, NotFound(id));
        }
        return (webhook, await access.CheckAsync(context, webhook.Topic, Right.Write, cancellationToken));
    }

    private static ProblemHttpResult NotFound(string id) => TypedResults.Problem(
        statusCode: StatusCodes.Status404NotFound, title: "Webhook not found", detail: $"There is no webhook with id '{id}'.");

    /// <summary>A 422 that names the field and why its value is refused.</summary>
    private static ProblemHttpResult Refused(string field, string reason) => TypedResults.Problem(
        statusCode: StatusCodes.Status422UnprocessableEntity,
        title: "Webhook URL refused",
        detail: reason,
        extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [reason] } });
}
