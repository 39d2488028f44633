using MessageServer.Tests.Infrastructure;

[assembly: AssemblyFixture(typeof(PostgresFixture))]
