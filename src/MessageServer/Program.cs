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

builder.AddServerHosting(settings);
builder.AddObservability(settings);
builder.Services.AddMessageStorage(settings);
builder.Services.AddRetention();
builder.Services.AddSearch(settings);
builder.Services.AddWebhooks(settings);

var app = builder.Build();
app.UseObservability(settings);
app.UseServerPipeline(settings);
app.MapHealthApi();
app.MapMessagesApi();
app.MapStreamApi();
app.MapSearchApi();
app.MapWebhooksApi();
app.MapObservability(settings);
await app.RunAsync();
return 0;
