using System.Globalization;
using System.Text.RegularExpressions;
using MessageServer.Configuration;
using MessageServer.Storage;

namespace MessageServer.Security;

/// <summary>
/// `dotnet MessageServer.dll tokens create|list|revoke ...`: manages access tokens in the configured database
/// (the same POSTGRES_* or SQLITE_PATH settings as the server). A new token is printed once; only its hash is kept.
/// </summary>
public static partial class TokensCommand
{
    public const string Command = "tokens";

    private const string Usage = """
        Usage:
          tokens create --name NAME [--read PATTERNS] [--write PATTERNS]
          tokens list
          tokens revoke --name NAME
        PATTERNS are topic patterns separated by commas, * matching any run of characters: 'alerts*', 'ops,deploy-*', '*'.
        """;

    [GeneratedRegex("^[A-Za-z0-9_.-]{1,64}$")]
    private static partial Regex NamePattern();

    public static async Task<int> RunAsync(string[] arguments, ServerSettings settings)
    {
        if (arguments.Length == 0 || arguments[0] is "-h" or "--help" or "help")
        {
            Console.WriteLine(Usage);
            return arguments.Length == 0 ? 2 : 0;
        }
        if (!TryParseOptions(arguments[1..], out var options, out var error))
        {
            return Fail(error, usage: true);
        }
        var services = new ServiceCollection()
            .AddLogging(logging => logging.SetMinimumLevel(LogLevel.Warning))
            .AddSingleton(settings)
            .AddStorage(settings)
            .BuildServiceProvider();
        await using (services)
        {
            var tokens = services.GetRequiredService<ITokenStore>();
            try
            {
                await services.GetRequiredService<IMessageStore>().MigrateAsync(CancellationToken.None);
                return arguments[0] switch
                {
                    "create" => await CreateAsync(tokens, options),
                    "list" => await ListAsync(tokens),
                    "revoke" => await RevokeAsync(tokens, options),
                    _ => Fail($"unknown tokens command '{arguments[0]}'", usage: true),
                };
            }
            catch (Exception exception) when (DatabaseUnavailable.IsUnavailable(exception) || exception is InvalidOperationException or System.Net.Sockets.SocketException)
            {
                return Fail($"the database cannot be reached ({exception.Message}); check {settings.StorageDescription}");
            }
        }
    }

    private static async Task<int> CreateAsync(ITokenStore tokens, Dictionary<string, string> options)
    {
        if (!options.TryGetValue("name", out var name) || !NamePattern().IsMatch(name))
        {
            return Fail("--name is required: 1 to 64 of A-Z, a-z, 0-9, '_', '.', '-'", usage: true);
        }
        var read = options.GetValueOrDefault("read", "");
        var write = options.GetValueOrDefault("write", "");
        if (read.Length == 0 && write.Length == 0)
        {
            return Fail("give the token some rights: --read PATTERNS and/or --write PATTERNS", usage: true);
        }
        foreach (var (option, patterns) in new[] { ("--read", read), ("--write", write) })
        {
            if (patterns.Length > 0 && TopicPatterns.Check(patterns) is { } patternError)
            {
                return Fail($"{option}: {patternError}");
            }
        }
        (read, write) = (TopicPatterns.Canonical(read), TopicPatterns.Canonical(write));
        var token = TokenSecrets.NewToken();
        if (!await tokens.CreateTokenAsync(name, TokenSecrets.HashHex(token), read, write, CancellationToken.None))
        {
            return Fail($"a token named '{name}' already exists (see 'tokens list'); choose another name");
        }
        Console.WriteLine($"Created token '{name}' (read: {Show(read)}, write: {Show(write)}). It is shown only this once; store it now:");
        Console.WriteLine(token);
        return 0;
    }

    private static async Task<int> ListAsync(ITokenStore tokens)
    {
        var all = await tokens.ListTokensAsync(CancellationToken.None);
        if (all.Count == 0)
        {
            Console.WriteLine("No tokens. Create one with: tokens create --name NAME --read PATTERNS --write PATTERNS");
            return 0;
        }
        Console.WriteLine($"{"NAME",-24} {"READ",-20} {"WRITE",-20} {"CREATED",-20} STATUS");
        foreach (var token in all)
        {
            var status = token.RevokedAt is { } revoked ? $"revoked {revoked.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture)}" : "active";
            Console.WriteLine($"{token.Name,-24} {Show(token.ReadPatterns),-20} {Show(token.WritePatterns),-20} {token.CreatedAt.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture),-20} {status}");
        }
        return 0;
    }

    private static async Task<int> RevokeAsync(ITokenStore tokens, Dictionary<string, string> options)
    {
        if (!options.TryGetValue("name", out var name))
        {
            return Fail("--name is required", usage: true);
        }
        if (!await tokens.RevokeTokenAsync(name, CancellationToken.None))
        {
            return Fail($"no active token is named '{name}' (see 'tokens list')");
        }
        Console.WriteLine($"Revoked token '{name}'. Servers stop accepting it within 5 seconds.");
        return 0;
    }

    private static bool TryParseOptions(string[] arguments, out Dictionary<string, string> options, out string error)
    {
        options = [];
        error = "";
        for (var i = 0; i < arguments.Length; i++)
        {
            var argument = arguments[i];
            if (argument is not ("--name" or "--read" or "--write"))
            {
                // `tokens revoke ci` reads as naturally as `tokens revoke --name ci`.
                if (!argument.StartsWith('-') && !options.ContainsKey("name"))
                {
                    options["name"] = argument;
                    continue;
                }
                error = $"unknown option '{argument}'";
                return false;
            }
            if (i + 1 >= arguments.Length)
            {
                error = $"{argument} needs a value";
                return false;
            }
            var key = argument[2..];
            var value = arguments[++i].Trim();
            options[key] = options.TryGetValue(key, out var earlier) && key != "name" ? $"{earlier},{value}" : value;
        }
        return true;
    }

    private static string Show(string patterns) => patterns.Length == 0 ? "-" : patterns;

    private static int Fail(string message, bool usage = false)
    {
        Console.Error.WriteLine($"tokens: {message}");
        if (usage)
        {
            Console.Error.WriteLine(Usage);
        }
        return usage ? 2 : 1;
    }
}
