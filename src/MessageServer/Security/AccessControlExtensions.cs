using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MessageServer.Security;

public static class AccessControlExtensions
{
    /// <summary>Who may do what: the access rules (tokens from the store, AUTH_DEFAULT_ACCESS) and the watch that ends streams whose token lost its right.</summary>
    public static IServiceCollection AddAccessControl(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<AccessControl>();
        services.AddSingleton<StreamAccessWatch>();
        services.AddHostedService(provider => provider.GetRequiredService<StreamAccessWatch>());
        return services;
    }

    /// <summary>Documents the 401 and 403 of the access rules (AUTH_DEFAULT_ACCESS and tokens).</summary>
    public static RouteGroupBuilder WithAccessProblems(this RouteGroupBuilder group) =>
        group.ProducesProblem(StatusCodes.Status401Unauthorized).ProducesProblem(StatusCodes.Status403Forbidden);
}
