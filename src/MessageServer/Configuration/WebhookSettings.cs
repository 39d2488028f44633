using System.Globalization;

namespace MessageServer.Configuration;

/// <summary>How webhook deliveries are retried, and whether they may reach private addresses.</summary>
public sealed record WebhookSettings(IReadOnlyList<TimeSpan> RetrySchedule, bool AllowPrivateTargets)
{
    /// <summary>Eleven attempts over about 28 hours: quick retries for blips, then hours for outages.</summary>
    public const string DefaultRetrySchedule = "5,30,120,600,1800,3600,7200,14400,28800,43200";

    private const int MaxDelaySeconds = 7 * 24 * 3600;
    private const int MaxRetries = 50;

    public static WebhookSettings Default { get; } = new(ParseSchedule(DefaultRetrySchedule, []), false);

    /// <summary>Reads WEBHOOK_RETRY_SCHEDULE and WEBHOOK_ALLOW_PRIVATE; each problem names its variable.</summary>
    internal static WebhookSettings Parse(Func<string, string?> read, List<string> problems) => new(
        ParseSchedule(read("WEBHOOK_RETRY_SCHEDULE") ?? DefaultRetrySchedule, problems),
        ServerSettings.ParseBoolean(read("WEBHOOK_ALLOW_PRIVATE"), "WEBHOOK_ALLOW_PRIVATE", problems));

    private static List<TimeSpan> ParseSchedule(string text, List<string> problems)
    {
        var delays = new List<TimeSpan>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) || seconds > MaxDelaySeconds)
            {
                problems.Add($"WEBHOOK_RETRY_SCHEDULE must be comma-separated whole seconds from 0 to {MaxDelaySeconds} (e.g. {DefaultRetrySchedule}), got '{text}'.");
                return [];
            }
            delays.Add(TimeSpan.FromSeconds(seconds));
        }
        if (delays.Count > MaxRetries)
        {
            problems.Add($"WEBHOOK_RETRY_SCHEDULE may list at most {MaxRetries} delays, got {delays.Count}.");
        }
        return delays;
    }
}
