using MessageServer.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(PostgresFixture))]
[assembly: AssemblyFixture(typeof(BrowserFixture))]
