using MessageServer.ChangeFeed;
using MessageServer.Configuration;
using MessageServer.Messages;
using MessageServer.Operations;
using MessageServer.Search;
using MessageServer.Security;
using MessageServer.Storage;
using MessageServer.Streaming;
using MessageServer.Webhooks;

var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = HostingExtensions.InstalledContentRoot() });
if (!ServerSettings.TryLoad(builder.Configuration, out var settings, out var errors))
{
    ConfigurationErrors.Report(errors);
    return 2;
}
if (args is [HealthProbe.Command, ..])
{
    return await HealthProbe.RunAsync(settings);
}
if (args is [TokensCommand.Command, .. var tokenArguments])
{
    return await TokensCommand.RunAsync(tokenArguments, settings);
}

if (ListenCheck.Problem(settings) is { } listenProblem)
{
    ConfigurationErrors.Report([listenProblem]);
    return 2;
}

builder.AddServerHosting(settings);
builder.AddObservability(settings);
builder.AddHttpHygiene(settings);
builder.Services.AddRateLimits(settings);
builder.Services.AddAccessControl();
builder.Services.AddStorage(settings);
builder.Services.AddChangeFeed(settings);
builder.Services.AddMessages();
builder.Services.AddStreaming();
builder.Services.AddRetention();
builder.Services.AddSearch(settings);
builder.Services.AddWebhooks(settings);

var app = builder.Build();
// Order matters: each middleware sees only the requests the ones before it pass on (README, "How it is built").
app.UseRequestTelemetry();
app.UseHttpHygiene(settings);
app.UseProblemResponses();
app.UseRateLimits(settings);
app.UseWebPage();
app.UseMetricsAccess(settings);
app.UseApiDocs();

app.MapHealthApi();
// The group's filters run in this order: a malformed {topic} is a 400 before a 503, 401 or 403 could answer.
var api = app.MapGroup("/api").RequireValidTopic().RequireMigratedDatabase().WithAccessProblems();
api.MapMessagesApi();
api.MapStreamApi();
api.MapSearchApi();
api.MapWebhooksApi();
app.MapObservability(settings);
await app.RunAsync();
return 0;
