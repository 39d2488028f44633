namespace MessageServer.Configuration;

public static class ConfigurationErrors
{
    /// <summary>Prints each configuration problem as one line on stderr, in a form a person can act on.</summary>
    public static void Report(IReadOnlyList<string> errors)
    {
        foreach (var error in errors)
        {
            Console.Error.WriteLine($"message-server: configuration error: {error}");
        }
    }
}
