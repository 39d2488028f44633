namespace MessageServer.Storage;

public static class ExceptionMessages
{
    /// <summary>
    /// The messages of an exception and its inner ones, joined: drivers wrap the useful part ("The remote
    /// certificate is invalid...") in a generic outer one ("Exception while connecting").
    /// </summary>
    public static string Describe(this Exception exception)
    {
        var messages = new List<string>();
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (!messages.Contains(current.Message, StringComparer.Ordinal))
            {
                messages.Add(current.Message);
            }
        }
        return string.Join(": ", messages);
    }
}
