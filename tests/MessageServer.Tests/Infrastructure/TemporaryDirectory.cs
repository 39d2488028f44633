namespace MessageServer.Tests.Infrastructure;

/// <summary>A folder under the system's temporary folder, removed with all it holds when disposed.</summary>
public sealed class TemporaryDirectory(string prefix) : IDisposable
{
    private readonly DirectoryInfo directory = Directory.CreateTempSubdirectory(prefix);

    public string FullName => directory.FullName;

    public void Dispose()
    {
        if (directory.Exists)
        {
            directory.Delete(recursive: true);
        }
    }
}
