using MessageServer.Messages;
using Npgsql;
using NpgsqlTypes;

namespace MessageServer.Webhooks;

/// <summary>
/// Webhooks in PostgreSQL, shared by every instance. A webhook is delivered by one instance at a time: the one
/// holding its lease (locked_by, locked_until), taken with FOR UPDATE SKIP LOCKED and timed by the database's
/// clock. A crashed instance's lease runs out and another instance takes the webhook over.
/// </summary>
/// <remarks>
/// The worker's bookkeeping (outcomes, cursor, releases) goes through its own connections with
/// synchronous_commit off: a delivery then costs no wait for the disk, and a database crash can only cost the
/// last few outcomes, whose messages are sent again. Webhooks themselves, leases and retry requests are
/// committed durably, and a durable commit also makes every earlier one durable (the WAL is written in order).
/// </remarks>
public sealed class PostgresWebhookStore : IWebhookStore, IAsyncDisposable
{
    private const string Columns = "id, topic, url, secret, state, created_at";

    private readonly NpgsqlDataSource dataSource;
    private readonly NpgsqlDataSource deliveryLog;

    public PostgresWebhookStore(NpgsqlDataSource dataSource, string connectionString)
    {
        this.dataSource = dataSource;
        deliveryLog = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
        {
            Options = "-c synchronous_commit=off",
            ApplicationName = "message-server-webhooks",
            MaxPoolSize = WebhookDeliveryWorker.MaxConcurrentWebhooks + 8,
        }.ConnectionString);
    }

    public ValueTask DisposeAsync() => deliveryLog.DisposeAsync();

    public async Task<Webhook> CreateAsync(string topic, string url, string secret, CancellationToken cancellationToken)
    {
        // Any message not yet visible has a higher id than the newest visible one (a topic's ids commit in
        // ascending order), so it is delivered; everything older is not.
        await using var command = dataSource.CreateCommand(
            $"""
            INSERT INTO webhooks (topic, url, secret, delivered_through)
            VALUES ($1, $2, $3, (SELECT coalesce(max(id), 0) FROM messages WHERE topic = $1))
            RETURNING {Columns}
            """);
        Add(command, topic, url, secret);
        return (await ReadWebhooksAsync(command, cancellationToken))[0];
    }

    public async Task<IReadOnlyList<Webhook>> ListAsync(string topic, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM webhooks WHERE topic = $1 ORDER BY id");
        Add(command, topic);
        return await ReadWebhooksAsync(command, cancellationToken);
    }

    public async Task<Webhook?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand($"SELECT {Columns} FROM webhooks WHERE id = $1");
        Add(command, id);
        return (await ReadWebhooksAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<bool> DeleteAsync(long id, CancellationToken cancellationToken)
    {
        // Its deliveries go with it (ON DELETE CASCADE).
        await using var command = dataSource.CreateCommand("DELETE FROM webhooks WHERE id = $1");
        Add(command, id);
        return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
    }

    public async Task<IReadOnlyList<Delivery>> DeliveriesAsync(long webhookId, string? state, int limit, CancellationToken cancellationToken)
    {
        var order = state == DeliveryStates.Pending ? "ASC" : "DESC";
        await using var command = dataSource.CreateCommand(
            $"""
            (SELECT message_id, state, attempts, last_status, last_error, next_attempt_at, delivered_at
             FROM webhook_deliveries WHERE webhook_id = $1 AND ($2::text IS NULL OR state = $2)
             ORDER BY message_id {order} LIMIT $3)
            UNION ALL
            (SELECT m.id, 'pending', 0, NULL, NULL, NULL, NULL
             FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
             WHERE w.id = $1 AND ($2::text IS NULL OR $2 = 'pending')
               AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.message_id = m.id)
             ORDER BY m.id {order} LIMIT $3)
            ORDER BY message_id {order} LIMIT $3
            """);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = webhookId });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)state ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var deliveries = new List<Delivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            deliveries.Add(new Delivery(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTime>(5), reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTime>(6)));
        }
        return deliveries;
    }

    public async Task<int> RetryFailedAsync(long webhookId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            WITH enabled AS (UPDATE webhooks SET state = 'active' WHERE id = $1)
            UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at = now()
            WHERE webhook_id = $1 AND state = 'failed'
            """);
        Add(command, webhookId);
        return await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<Webhook>> ClaimDueAsync(string instance, int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        // Due: the next pending delivery's time has come, or nothing is pending and the topic has newer messages.
        await using var command = dataSource.CreateCommand(
            $"""
            WITH due AS (
                SELECT w.id FROM webhooks w
                WHERE w.state = 'active' AND (w.locked_until IS NULL OR w.locked_until < now() OR w.locked_by = $1)
                  AND CASE
                      WHEN EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
                      THEN (SELECT d.next_attempt_at <= now() FROM webhook_deliveries d
                            WHERE d.webhook_id = w.id AND d.state = 'pending' ORDER BY d.message_id LIMIT 1)
                      ELSE EXISTS (SELECT 1 FROM messages m WHERE m.topic = w.topic AND m.id > w.delivered_through)
                  END
                ORDER BY w.id LIMIT $2
                FOR UPDATE OF w SKIP LOCKED)
            UPDATE webhooks w SET locked_by = $1, locked_until = now() + $3 FROM due WHERE w.id = due.id
            RETURNING w.id, w.topic, w.url, w.secret, w.state, w.created_at
            """);
        Add(command, instance, limit, lease);
        return await ReadWebhooksAsync(command, cancellationToken);
    }

    public async Task<bool> RenewLeaseAsync(long webhookId, string instance, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand("UPDATE webhooks SET locked_until = now() + $3 WHERE id = $1 AND locked_by = $2");
        Add(command, webhookId, instance, lease);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task ReleaseAsync(long webhookId, string instance, int keepDelivered, CancellationToken cancellationToken)
    {
        await using var batch = deliveryLog.CreateBatch();
        var release = new NpgsqlBatchCommand("UPDATE webhooks SET locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2");
        release.Parameters.Add(new NpgsqlParameter<long> { TypedValue = webhookId });
        release.Parameters.Add(new NpgsqlParameter<string> { TypedValue = instance });
        var prune = new NpgsqlBatchCommand(
            """
            DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'delivered' AND message_id <= (
                SELECT message_id FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'delivered'
                ORDER BY message_id DESC OFFSET $2 LIMIT 1)
            """);
        prune.Parameters.Add(new NpgsqlParameter<long> { TypedValue = webhookId });
        prune.Parameters.Add(new NpgsqlParameter<int> { TypedValue = keepDelivered });
        batch.BatchCommands.Add(release);
        batch.BatchCommands.Add(prune);
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<DueDelivery>> NextAsync(long webhookId, int limit, CancellationToken cancellationToken)
    {
        await using (var pending = deliveryLog.CreateCommand(
            """
            SELECT d.message_id, d.attempts, d.next_attempt_at <= now(), m.id, m.topic, m.author, m.text, m.created_at
            FROM webhook_deliveries d LEFT JOIN messages m ON m.id = d.message_id
            WHERE d.webhook_id = $1 AND d.state = 'pending' ORDER BY d.message_id LIMIT $2
            """))
        {
            Add(pending, webhookId, limit);
            var retries = await ReadDueAsync(pending, cancellationToken);
            if (retries.Count > 0)
            {
                return retries;
            }
        }
        await using var fresh = deliveryLog.CreateCommand(
            """
            SELECT m.id, 0, true, m.id, m.topic, m.author, m.text, m.created_at
            FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
            WHERE w.id = $1 ORDER BY m.id LIMIT $2
            """);
        Add(fresh, webhookId, limit);
        return await ReadDueAsync(fresh, cancellationToken);
    }

    public async Task RecordAsync(long webhookId, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        // One statement, so the delivery row and the cursor change together.
        await using var command = deliveryLog.CreateCommand(
            """
            WITH recorded AS (
                INSERT INTO webhook_deliveries (webhook_id, message_id, state, attempts, last_status, last_error, next_attempt_at, delivered_at)
                SELECT $1, $2, $3, 1, $4, $5, now() + $6, CASE WHEN $3 = 'delivered' THEN now() END
                WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
                ON CONFLICT (webhook_id, message_id) DO UPDATE SET
                    state = EXCLUDED.state, attempts = webhook_deliveries.attempts + 1, last_status = EXCLUDED.last_status,
                    last_error = EXCLUDED.last_error, next_attempt_at = EXCLUDED.next_attempt_at, delivered_at = EXCLUDED.delivered_at)
            UPDATE webhooks SET
                delivered_through = CASE WHEN $3 = 'pending' THEN delivered_through ELSE greatest(delivered_through, $2) END,
                state = CASE WHEN $7 THEN 'disabled' ELSE state END
            WHERE id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = webhookId });
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = attempt.MessageId });
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = attempt.State });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.Status ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.Error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.RetryIn ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Interval });
        command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = attempt.Disable });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task SkipAsync(long webhookId, long messageId, CancellationToken cancellationToken)
    {
        await using var command = deliveryLog.CreateCommand(
            """
            WITH forgotten AS (DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND message_id = $2)
            UPDATE webhooks SET delivered_through = greatest(delivered_through, $2) WHERE id = $1
            """);
        Add(command, webhookId, messageId);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<PendingSummary> PendingAsync(CancellationToken cancellationToken)
    {
        await using var command = deliveryLog.CreateCommand(
            """
            SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 FROM (
                SELECT m.created_at FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
                WHERE w.state = 'active'
                UNION ALL
                SELECT m.created_at FROM webhooks w
                JOIN webhook_deliveries d ON d.webhook_id = w.id AND d.state = 'pending' AND d.message_id <= w.delivered_through
                JOIN messages m ON m.id = d.message_id
                WHERE w.state = 'active') pending
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return new PendingSummary(reader.GetInt64(0), Math.Max(0, reader.GetDouble(1)));
    }

    public async Task<IReadOnlyList<string>> ActiveTopicsAsync(CancellationToken cancellationToken)
    {
        await using var command = deliveryLog.CreateCommand("SELECT DISTINCT topic FROM webhooks WHERE state = 'active'");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var topics = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            topics.Add(reader.GetString(0));
        }
        return topics;
    }

    private static void Add(NpgsqlCommand command, params object[] values)
    {
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }
    }

    private static async Task<List<Webhook>> ReadWebhooksAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var webhooks = new List<Webhook>();
        while (await reader.ReadAsync(cancellationToken))
        {
            webhooks.Add(new Webhook(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetFieldValue<DateTime>(5)));
        }
        return webhooks;
    }

    private static async Task<List<DueDelivery>> ReadDueAsync(NpgsqlCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var due = new List<DueDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var message = reader.IsDBNull(3) ? null
                : new Message(reader.GetInt64(3), reader.GetString(4), reader.GetString(5), reader.GetString(6), reader.GetFieldValue<DateTime>(7));
            due.Add(new DueDelivery(reader.GetInt64(0), message, reader.GetInt32(1), reader.GetBoolean(2)));
        }
        return due;
    }
}
