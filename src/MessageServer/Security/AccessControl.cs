using System.Security.Cryptography;
using MessageServer.Configuration;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Security;

public enum Right
{
    Read,
    Write,
}

/// <summary>Who is calling: a token's name and rights, or an anonymous client with AUTH_DEFAULT_ACCESS.</summary>
public sealed record Caller(string? TokenName, TopicPatterns Read, TopicPatterns Write)
{
    public bool IsAnonymous => TokenName is null;

    public bool May(Right right, string topic) => (right == Right.Read ? Read : Write).Matches(topic);

    /// <summary>
    /// Whose Idempotency-Keys these are: the token's, or an anonymous client's address. Keys of one credential
    /// never meet another's, so no client can block or probe another's keys.
    /// </summary>
    public string CredentialScope(HttpContext context) =>
        IsAnonymous ? $"anonymous:{ClientAddresses.Of(context)?.ToString() ?? "unknown"}" : $"token:{TokenName}";
}

/// <summary>
/// Resolves the bearer token of a request (Authorization: Bearer, or ?access_token= on streams, since
/// EventSource cannot send headers) and decides per topic. Missing or bad credentials (any other scheme
/// included) give 401 with WWW-Authenticate, insufficient rights 403 without naming the topic.
/// </summary>
public sealed class AccessControl(ServerSettings settings, ITokenStore tokens, TimeProvider clock) : IDisposable
{
    private const string CallerKey = "message-server.caller";
    private static readonly TimeSpan MaxAge = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan MinAgeBeforeReloadOnMiss = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim reload = new(1, 1);
    private (IReadOnlyList<ActiveToken> Tokens, DateTimeOffset LoadedAt) snapshot = ([], DateTimeOffset.MinValue);

    public Caller Anonymous { get; } = settings.AnonymousAccess switch
    {
        AnonymousAccess.ReadWrite => new Caller(null, TopicPatterns.All, TopicPatterns.All),
        AnonymousAccess.ReadOnly => new Caller(null, TopicPatterns.All, TopicPatterns.Nothing),
        _ => new Caller(null, TopicPatterns.Nothing, TopicPatterns.Nothing),
    };

    public string Describe() => settings.AnonymousAccess switch
    {
        AnonymousAccess.ReadWrite => "anonymous read-write, tokens accepted",
        AnonymousAccess.ReadOnly => "anonymous read-only, tokens for writing",
        _ => "tokens required",
    };

    /// <summary>The caller of this request, or the 401 for a token that is not (or no longer) valid.</summary>
    public async Task<(Caller? Caller, ProblemHttpResult? Problem)> IdentifyAsync(HttpContext context, CancellationToken cancellationToken)
    {
        if (context.Items[CallerKey] is Caller known)
        {
            return (known, null);
        }
        var (presented, unsupportedScheme) = PresentedToken(context.Request);
        if (unsupportedScheme)
        {
            return (null, Unauthorized(context, "Only bearer tokens are accepted: send Authorization: Bearer <token>.", invalidToken: true));
        }
        if (presented is null)
        {
            context.Items[CallerKey] = Anonymous;
            return (Anonymous, null);
        }
        var token = await FindAsync(presented, cancellationToken);
        if (token is null)
        {
            return (null, Unauthorized(context, "The access token is not valid (unknown or revoked).", invalidToken: true));
        }
        var caller = new Caller(token.Name, token.Read, token.Write);
        context.Items[CallerKey] = caller;
        return (caller, null);
    }

    /// <summary>Null when the caller may do <paramref name="right"/> on the topic, else the 401 or 403 to answer.</summary>
    public async Task<ProblemHttpResult?> CheckAsync(HttpContext context, string topic, Right right, CancellationToken cancellationToken)
    {
        var (caller, problem) = await IdentifyAsync(context, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }
        if (caller!.May(right, topic))
        {
            return null;
        }
        var action = right == Right.Read ? "read" : "write to";
        return caller.IsAnonymous
            ? Unauthorized(context, $"An access token is needed to {action} this topic: send Authorization: Bearer <token>.", invalidToken: false)
            : TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: $"The token '{caller.TokenName}' may not {action} this topic.");
    }

    /// <summary>Null when the request carries a valid token, else the 401 (for /metrics with AUTH_DEFAULT_ACCESS=none).</summary>
    public async Task<ProblemHttpResult?> RequireTokenAsync(HttpContext context, CancellationToken cancellationToken)
    {
        var (caller, problem) = await IdentifyAsync(context, cancellationToken);
        return problem ?? (caller!.IsAnonymous
            ? Unauthorized(context, "An access token is needed here: send Authorization: Bearer <token>.", invalidToken: false)
            : null);
    }

    /// <summary>
    /// The active tokens, read again from the store when the copy in memory is older than <paramref name="maxAge"/>;
    /// open streams re-check their token against it.
    /// </summary>
    public Task<IReadOnlyList<ActiveToken>> ActiveTokensAsync(TimeSpan maxAge, CancellationToken cancellationToken) =>
        SnapshotAsync(maxAge, cancellationToken);

    private static (string? Token, bool UnsupportedScheme) PresentedToken(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        if (authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return (authorization["Bearer ".Length..].Trim(), false);
        }
        if (authorization.Length > 0)
        {
            // A bare token or another scheme is refused outright, never looked up: one way to send a token.
            return (null, true);
        }
        return request.Path.Value?.EndsWith("/stream", StringComparison.Ordinal) == true && request.Query.TryGetValue("access_token", out var query)
            ? (query.ToString(), false)
            : (null, false);
    }

    public void Dispose() => reload.Dispose();

    private static ProblemHttpResult Unauthorized(HttpContext context, string detail, bool invalidToken)
    {
        context.Response.Headers.WWWAuthenticate = invalidToken
            ? "Bearer realm=\"message-server\", error=\"invalid_token\""
            : "Bearer realm=\"message-server\"";
        return TypedResults.Problem(statusCode: StatusCodes.Status401Unauthorized, title: "Unauthorized", detail: detail);
    }

    /// <summary>
    /// Compares the presented token's hash with every active token's in constant time. Tokens are cached for a
    /// few seconds, so a revoked token stops working within 5 s and a new one works at once.
    /// </summary>
    private async Task<ActiveToken?> FindAsync(string presented, CancellationToken cancellationToken)
    {
        var hash = TokenSecrets.Hash(presented);
        var current = await SnapshotAsync(MaxAge, cancellationToken);
        var match = Match(current, hash);
        if (match is null)
        {
            match = Match(await SnapshotAsync(MinAgeBeforeReloadOnMiss, cancellationToken), hash);
        }
        return match;
    }

    private static ActiveToken? Match(IReadOnlyList<ActiveToken> tokens, byte[] hash)
    {
        ActiveToken? match = null;
        foreach (var token in tokens)
        {
            if (CryptographicOperations.FixedTimeEquals(token.Hash, hash))
            {
                match = token;
            }
        }
        return match;
    }

    private async Task<IReadOnlyList<ActiveToken>> SnapshotAsync(TimeSpan maxAge, CancellationToken cancellationToken)
    {
        if (clock.GetUtcNow() - snapshot.LoadedAt < maxAge)
        {
            return snapshot.Tokens;
        }
        await reload.WaitAsync(cancellationToken);
        try
        {
            if (clock.GetUtcNow() - snapshot.LoadedAt >= maxAge)
            {
                snapshot = (await tokens.ActiveTokensAsync(cancellationToken), clock.GetUtcNow());
            }
            return snapshot.Tokens;
        }
        finally
        {
            reload.Release();
        }
    }
}

/// <summary>Checks the route's {topic} against the caller's rights before the handler runs.</summary>
public sealed class RequireTopicAccess(Right right) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var topic = http.GetRouteValue("topic") as string ?? "";
        var access = http.RequestServices.GetRequiredService<AccessControl>();
        return await access.CheckAsync(http, topic, right, http.RequestAborted) is { } problem ? problem : await next(context);
    }
}
