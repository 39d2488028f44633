using MessageServer.Configuration;
using Microsoft.Extensions.Configuration;

namespace MessageServer.Tests.Webhooks;

public sealed class WebhookSettingsTests
{
    private static (ServerSettings Settings, IReadOnlyList<string> Errors) Load(params (string Name, string Value)[] values)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Name, v.Value)))
            .Build();
        ServerSettings.TryLoad(configuration, out var settings, out var errors);
        return (settings, errors);
    }

    [Fact]
    public void By_default_deliveries_are_retried_ten_times_over_about_a_day_and_private_targets_are_refused()
    {
        var (settings, errors) = Load();

        Assert.Empty(errors);
        Assert.Equal(10, settings.Webhooks.RetrySchedule.Count);
        Assert.InRange(settings.Webhooks.RetrySchedule.Sum(d => d.TotalHours), 20, 30);
        Assert.False(settings.Webhooks.AllowPrivateTargets);
    }

    [Fact]
    public void WEBHOOK_RETRY_SCHEDULE_and_WEBHOOK_ALLOW_PRIVATE_are_read()
    {
        var (settings, errors) = Load(("WEBHOOK_RETRY_SCHEDULE", "0, 2,60"), ("WEBHOOK_ALLOW_PRIVATE", "true"));

        Assert.Empty(errors);
        Assert.Equal([TimeSpan.Zero, TimeSpan.FromSeconds(2), TimeSpan.FromMinutes(1)], settings.Webhooks.RetrySchedule);
        Assert.True(settings.Webhooks.AllowPrivateTargets);
    }

    [Theory]
    [InlineData("WEBHOOK_RETRY_SCHEDULE", "5,thirty")]
    [InlineData("WEBHOOK_RETRY_SCHEDULE", "5,,30")]
    [InlineData("WEBHOOK_RETRY_SCHEDULE", "-5")]
    [InlineData("WEBHOOK_RETRY_SCHEDULE", "99999999")]
    [InlineData("WEBHOOK_ALLOW_PRIVATE", "maybe")]
    public void A_wrong_value_is_an_error_naming_the_variable(string name, string value)
    {
        var (_, errors) = Load((name, value));

        Assert.StartsWith(name, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1.4.2", "1.4.2")]
    [InlineData("1.0.0+3747c07", "1.0.0")]
    [InlineData("feature/foo", "feature-foo")]
    [InlineData("1,0 (x", "1-0--x")]
    [InlineData("v1é", "v1-")]
    [InlineData("+", "unknown")]
    public void Any_APP_VERSION_becomes_a_valid_User_Agent_version(string version, string expected)
    {
        var productVersion = MessageServer.Webhooks.WebhookSender.ProductVersion(version);

        Assert.Equal(expected, productVersion);
        Assert.True(System.Net.Http.Headers.ProductInfoHeaderValue.TryParse($"message-server-webhooks/{productVersion}", out _));
    }
}
