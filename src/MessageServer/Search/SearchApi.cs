using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Security;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.OpenApi;

namespace MessageServer.Search;

/// <summary>
/// GET /api/search?q=&amp;topic=&amp;limit=&amp;before=   full-text search over the topics the caller may read, newest first
/// </summary>
public static class SearchApi
{
    /// <summary>The search of the configured store, PostgreSQL or SQLite, with its background indexer.</summary>
    public static IServiceCollection AddSearch(this IServiceCollection services, ServerSettings settings)
    {
        if (settings.Postgres is not null)
        {
            services.AddSingleton<PostgresWordFrequencies>();
            services.AddSingleton<IMessageSearch, PostgresMessageSearch>();
            services.AddSingleton<PostgresSearchIndexer>();
            services.AddHostedService(provider => provider.GetRequiredService<PostgresSearchIndexer>());
        }
        else
        {
            services.AddSingleton<SqliteSearchIndexer>();
            services.AddHostedService(provider => provider.GetRequiredService<SqliteSearchIndexer>());
            services.AddSingleton<IMessageSearch>(provider => new SqliteMessageSearch(settings.SqlitePath, provider.GetRequiredService<SqliteSearchIndexer>()));
        }
        return services;
    }

    public static IEndpointRouteBuilder MapSearchApi(this IEndpointRouteBuilder api)
    {
        api.MapGet("/search", Search)
            .WithName("SearchMessages")
            .WithSummary("Search the messages of every topic the caller may read, newest first")
            .WithDescription(
                "`q` (1..256 characters) works like a web search box: words (all must match), \"a quoted phrase\", -word to exclude, "
                + "OR between two terms, word* for a prefix. Matching is on whole words, case-insensitive, with accents folded (cafe finds café), "
                + "in the text and the author. `topic` limits the search to one topic; `limit` 1..200 (default 50); `before` pages to older matches.")
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .AddOpenApiOperationTransformer((operation, _, _) =>
            {
                operation.Parameters ??= [];
                operation.Parameters.Add(QueryParameter("q", "What to look for (see the description).", required: true,
                    new OpenApiSchema { Type = JsonSchemaType.String, MinLength = 1, MaxLength = SearchQuery.MaxLength }));
                operation.Parameters.Add(QueryParameter("topic", "Search this topic only.", required: false,
                    new OpenApiSchema { Type = JsonSchemaType.String, Pattern = "^[A-Za-z0-9_-]{1,64}$" }));
                operation.Parameters.Add(QueryParameter("limit", "How many matches at most (default 50).", required: false,
                    new OpenApiSchema { Type = JsonSchemaType.Integer, Minimum = "1", Maximum = InputRules.MaxLimit.ToString(System.Globalization.CultureInfo.InvariantCulture) }));
                operation.Parameters.Add(QueryParameter("before", "Only matches with a smaller id: the last id of the previous page.", required: false,
                    new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int64", Minimum = "0" }));
                return Task.CompletedTask;
            });
        return api;
    }

    public static async Task<Results<Ok<MessageList>, ProblemHttpResult>> Search(
        HttpContext context, IMessageSearch search, AccessControl access, CancellationToken cancellationToken)
    {
        var parameters = context.Request.Query;
        var (query, queryError) = parameters["q"].Count > 1
            ? (null, "q must be given once.")
            : SearchQuery.Parse(parameters["q"].ToString());
        if (queryError is not null)
        {
            return Problems.Invalid("q", queryError);
        }
        var topic = parameters.ContainsKey("topic") ? parameters["topic"].ToString() : null;
        if (topic is not null && InputRules.CheckTopic(topic) is { } topicError)
        {
            return Problems.Invalid("topic", topicError);
        }
        var (limit, limitError) = InputRules.ParseQueryNumber(parameters, "limit", 1, InputRules.MaxLimit);
        if (limitError is not null)
        {
            return Problems.Invalid("limit", limitError);
        }
        var (before, beforeError) = InputRules.ParseQueryNumber(parameters, "before", 0, long.MaxValue);
        if (beforeError is not null)
        {
            return Problems.Invalid("before", beforeError);
        }

        // The caller is identified once the input is known to be well formed: a malformed request is a 400 whoever
        // sends it, as on the topic routes.
        var (caller, problem) = await access.IdentifyAsync(context, cancellationToken);
        if (problem is not null)
        {
            return problem;
        }

        // Which topics to look in is decided before the query runs, so a match in a topic the caller may not
        // read is never even counted.
        IReadOnlyList<string>? patterns = null;
        if (topic is not null)
        {
            if (await access.CheckAsync(context, topic, Right.Read, cancellationToken) is { } forbidden)
            {
                return forbidden;
            }
        }
        else if (caller!.IsAnonymous && caller.Read == TopicPatterns.Nothing)
        {
            return (await access.CheckAsync(context, "", Right.Read, cancellationToken))!;
        }
        else if (!caller.Read.MatchesEveryTopic)
        {
            patterns = caller.Read.Parts;
            if (patterns.Count == 0)
            {
                return TypedResults.Ok(new MessageList([]));
            }
        }
        var request = new SearchRequest(query!, topic, patterns, (int)(limit ?? InputRules.DefaultLimit), before);
        return TypedResults.Ok(new MessageList(await search.SearchAsync(request, cancellationToken)));
    }

    private static OpenApiParameter QueryParameter(string name, string description, bool required, OpenApiSchema schema) =>
        new() { Name = name, In = ParameterLocation.Query, Description = description, Required = required, Schema = schema };
}
