using System.Globalization;
using System.Threading.RateLimiting;
using MessageServer.Configuration;
using Microsoft.AspNetCore.RateLimiting;

namespace MessageServer.Security;

/// <summary>
/// Per client (an IPv4 address, or an IPv6 network of RATE_LIMIT_IPV6_PREFIX bits): a token bucket on publishes and
/// a cap on open streams (ASP.NET Core's rate limiter). Over the limit a client gets 429 problem+json with
/// Retry-After. RATE_LIMIT=off turns both off.
/// </summary>
public static class RateLimitPolicies
{
    public const string Publish = "publish";
    public const string Stream = "stream";

    public static IServiceCollection AddRateLimits(this IServiceCollection services, ServerSettings settings)
    {
        var limits = settings.RateLimits;
        services.AddRateLimiter(limiter =>
        {
            limiter.AddPolicy(Publish, context => limits is null
                ? RateLimitPartition.GetNoLimiter("off")
                : RateLimitPartition.GetTokenBucketLimiter(Client(context, limits), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = limits.PublishBurst,
                    TokensPerPeriod = limits.PublishesPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                }));
            limiter.AddPolicy(Stream, context => limits is null
                ? RateLimitPartition.GetNoLimiter("off")
                : RateLimitPartition.GetConcurrencyLimiter(Client(context, limits), _ => new ConcurrencyLimiterOptions
                {
                    PermitLimit = limits.StreamsPerClient,
                    QueueLimit = 0,
                }));
            limiter.OnRejected = async (rejected, cancellationToken) =>
            {
                var retryAfter = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 5;
                var context = rejected.HttpContext;
                context.Response.Headers.RetryAfter = retryAfter.ToString(CultureInfo.InvariantCulture);
                await TypedResults.Problem(
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too many requests",
                    detail: $"This client address is over its limit; try again in {retryAfter} s.").ExecuteAsync(context);
            };
        });
        return services;
    }

    /// <summary>The rate limiter, left out of the pipeline altogether when RATE_LIMIT=off.</summary>
    public static WebApplication UseRateLimits(this WebApplication app, ServerSettings settings)
    {
        if (settings.RateLimits is not null)
        {
            app.UseRateLimiter();
        }
        return app;
    }

    private static string Client(HttpContext context, RateLimits limits) =>
        ClientAddresses.LimitKey(ClientAddresses.Of(context), limits.Ipv6PrefixLength);
}
