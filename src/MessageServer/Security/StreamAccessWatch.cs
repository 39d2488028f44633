using System.Collections.Concurrent;

namespace MessageServer.Security;

/// <summary>
/// Open streams outlive the check made when they opened, so the rights of their tokens are checked again every
/// <see cref="Interval"/>: a stream whose token was revoked, or may no longer read the topic, is ended (the stream
/// tells its client why). Every instance reads the tokens itself, so this holds across instances. While the
/// database cannot be read, streams go on: revocation then waits for the database, as new requests do.
/// </summary>
public sealed class StreamAccessWatch(AccessControl access, ILogger<StreamAccessWatch> logger) : BackgroundService
{
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    private readonly ConcurrentDictionary<TokenStreamWatch, byte> watches = new();

    /// <summary>A watch for a stream of <paramref name="topic"/>; anonymous rights come from the settings and never change.</summary>
    public TokenStreamWatch Watch(Caller caller, string topic)
    {
        if (caller.IsAnonymous)
        {
            return TokenStreamWatch.Unwatched;
        }
        var watch = new TokenStreamWatch(caller.TokenName!, topic, leaving => watches.TryRemove(leaving, out _));
        watches.TryAdd(watch, 0);
        return watch;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (watches.IsEmpty)
            {
                continue;
            }
            try
            {
                // Half the interval, so each tick reads the store again unless a request just did.
                Recheck(await access.ActiveTokensAsync(Interval / 2, stoppingToken));
            }
            catch (Exception exception) when (!stoppingToken.IsCancellationRequested)
            {
                logger.LogDebug("Could not re-check the tokens of open streams ({Reason}); trying again in {Seconds:0} s", exception.Message, Interval.TotalSeconds);
            }
        }
    }

    private void Recheck(IReadOnlyList<ActiveToken> activeTokens)
    {
        var byName = new Dictionary<string, ActiveToken>(StringComparer.Ordinal);
        foreach (var token in activeTokens)
        {
            byName[token.Name] = token;
        }
        foreach (var watch in watches.Keys)
        {
            if (!byName.TryGetValue(watch.TokenName, out var token))
            {
                watch.End("The access token was revoked.");
            }
            else if (!token.Read.Matches(watch.Topic))
            {
                watch.End("The access token may no longer read this topic.");
            }
        }
    }
}

/// <summary>One open stream's token; <see cref="Ended"/> is cancelled when the token no longer grants the stream.</summary>
public sealed class TokenStreamWatch : IDisposable
{
    public static readonly TokenStreamWatch Unwatched = new("", "", _ => { });

    // Never disposed, like a subscription's: the watcher may end it while the stream is leaving.
    private readonly CancellationTokenSource ended = new();
    private readonly Action<TokenStreamWatch> leave;

    internal TokenStreamWatch(string tokenName, string topic, Action<TokenStreamWatch> leave)
    {
        TokenName = tokenName;
        Topic = topic;
        this.leave = leave;
    }

    public string TokenName { get; }

    public string Topic { get; }

    public CancellationToken Ended => ended.Token;

    /// <summary>Why the stream was ended, for its client; null while it may go on.</summary>
    public string? Reason { get; private set; }

    internal void End(string reason)
    {
        Reason ??= reason;
        ended.Cancel();
    }

    public void Dispose() => leave(this);
}
