using MessageServer.Messages;
using MessageServer.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace MessageServer.Webhooks;

/// <summary>
/// Webhooks in the embedded SQLite database. One process serves a SQLite file, so a lease left by an earlier
/// process (one killed mid-delivery) is void: this one takes its webhooks at once. Times are microseconds since
/// the Unix epoch, as everywhere in this database.
/// </summary>
/// <remarks>
/// The worker's bookkeeping is written with synchronous=NORMAL (in WAL mode: safe from a killed process, not from
/// a power cut, which can only cost the last outcomes, whose messages are then sent again); webhooks themselves
/// and retry requests with the message store's synchronous=FULL.
/// </remarks>
public sealed class SqliteWebhookStore(SqliteMessageStore messages) : IWebhookStore
{
    private const string Columns = "id, topic, url, secret, state, created_at_us";

    private static long Now => SqliteMessageStore.ToUnixMicroseconds(DateTime.UtcNow);

    public async Task<Webhook> CreateAsync(string topic, string url, string secret, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = Command(connection,
            $"""
            INSERT INTO webhooks (topic, url, secret, created_at_us, delivered_through)
            VALUES ($1, $2, $3, $4, (SELECT coalesce(max(id), 0) FROM messages WHERE topic = $1))
            RETURNING {Columns}
            """, topic, url, secret, Now);
        return (await ReadWebhooksAsync(command, cancellationToken))[0];
    }

    public async Task<IReadOnlyList<Webhook>> ListAsync(string topic, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = Command(connection, $"SELECT {Columns} FROM webhooks WHERE topic = $1 ORDER BY id", topic);
        return await ReadWebhooksAsync(command, cancellationToken);
    }

    public async Task<Webhook?> GetAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = Command(connection, $"SELECT {Columns} FROM webhooks WHERE id = $1", id);
        return (await ReadWebhooksAsync(command, cancellationToken)).FirstOrDefault();
    }

    public async Task<bool> DeleteAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var deliveries = Command(connection, "DELETE FROM webhook_deliveries WHERE webhook_id = $1", id);
        deliveries.Transaction = transaction;
        await deliveries.ExecuteNonQueryAsync(cancellationToken);
        await using var webhook = Command(connection, "DELETE FROM webhooks WHERE id = $1", id);
        webhook.Transaction = transaction;
        var deleted = await webhook.ExecuteNonQueryAsync(cancellationToken) > 0;
        await transaction.CommitAsync(cancellationToken);
        return deleted;
    }

    public async Task<IReadOnlyList<Delivery>> DeliveriesAsync(long webhookId, string? state, int limit, CancellationToken cancellationToken)
    {
        var order = state == DeliveryStates.Pending ? "ASC" : "DESC";
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var command = Command(connection,
            $"""
            SELECT * FROM (
                SELECT * FROM (SELECT message_id, state, attempts, last_status, last_error, next_attempt_at_us, delivered_at_us
                    FROM webhook_deliveries WHERE webhook_id = $1 AND ($2 IS NULL OR state = $2)
                    ORDER BY message_id {order} LIMIT $3)
                UNION ALL
                SELECT * FROM (SELECT m.id, 'pending', 0, NULL, NULL, NULL, NULL
                    FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
                    WHERE w.id = $1 AND ($2 IS NULL OR $2 = 'pending')
                      AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.message_id = m.id)
                    ORDER BY m.id {order} LIMIT $3))
            ORDER BY message_id {order} LIMIT $3
            """, webhookId, (object?)state ?? DBNull.Value, limit);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var deliveries = new List<Delivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            deliveries.Add(new Delivery(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2),
                reader.IsDBNull(3) ? null : reader.GetInt32(3), reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(5)),
                reader.IsDBNull(6) ? null : SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(6))));
        }
        return deliveries;
    }

    public async Task<int> RetryFailedAsync(long webhookId, CancellationToken cancellationToken)
    {
        await using var connection = await messages.OpenAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var enable = Command(connection, "UPDATE webhooks SET state = 'active' WHERE id = $1", webhookId);
        enable.Transaction = transaction;
        await enable.ExecuteNonQueryAsync(cancellationToken);
        await using var requeue = Command(connection,
            "UPDATE webhook_deliveries SET state = 'pending', attempts = 0, next_attempt_at_us = $2 WHERE webhook_id = $1 AND state = 'failed'",
            webhookId, Now);
        requeue.Transaction = transaction;
        var requeued = await requeue.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return requeued;
    }

    public async Task<IReadOnlyList<Webhook>> ClaimDueAsync(string instance, int limit, TimeSpan lease, CancellationToken cancellationToken)
    {
        var now = Now;
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var command = Command(connection,
            $"""
            UPDATE webhooks SET locked_by = $1, locked_until_us = $4 WHERE id IN (
                SELECT w.id FROM webhooks w
                WHERE w.state = 'active'
                  AND CASE
                      WHEN EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.webhook_id = w.id AND d.state = 'pending')
                      THEN (SELECT d.next_attempt_at_us <= $3 FROM webhook_deliveries d
                            WHERE d.webhook_id = w.id AND d.state = 'pending' ORDER BY d.message_id LIMIT 1)
                      ELSE EXISTS (SELECT 1 FROM messages m WHERE m.topic = w.topic AND m.id > w.delivered_through)
                  END
                ORDER BY w.id LIMIT $2)
            RETURNING {Columns}
            """, instance, limit, now, now + (long)lease.TotalMicroseconds);
        return await ReadWebhooksAsync(command, cancellationToken);
    }

    public async Task<bool> RenewLeaseAsync(long webhookId, string instance, TimeSpan lease, CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var command = Command(connection, "UPDATE webhooks SET locked_until_us = $3 WHERE id = $1 AND locked_by = $2",
            webhookId, instance, Now + (long)lease.TotalMicroseconds);
        return await command.ExecuteNonQueryAsync(cancellationToken) == 1;
    }

    public async Task ReleaseAsync(long webhookId, string instance, int keepDelivered, CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var release = Command(connection, "UPDATE webhooks SET locked_by = NULL, locked_until_us = NULL WHERE id = $1 AND locked_by = $2", webhookId, instance);
        await release.ExecuteNonQueryAsync(cancellationToken);
        await using var prune = Command(connection,
            """
            DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'delivered' AND message_id <= (
                SELECT message_id FROM webhook_deliveries WHERE webhook_id = $1 AND state = 'delivered'
                ORDER BY message_id DESC LIMIT 1 OFFSET $2)
            """, webhookId, keepDelivered);
        await prune.ExecuteNonQueryAsync(cancellationToken);
    }

    public async Task<IReadOnlyList<DueDelivery>> NextAsync(long webhookId, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using (var pending = Command(connection,
            """
            SELECT d.message_id, d.attempts, d.next_attempt_at_us <= $3, m.id, m.topic, m.author, m.text, m.created_at_us
            FROM webhook_deliveries d LEFT JOIN messages m ON m.id = d.message_id
            WHERE d.webhook_id = $1 AND d.state = 'pending' ORDER BY d.message_id LIMIT $2
            """, webhookId, limit, Now))
        {
            var retries = await ReadDueAsync(pending, cancellationToken);
            if (retries.Count > 0)
            {
                return retries;
            }
        }
        await using var fresh = Command(connection,
            """
            SELECT m.id, 0, 1, m.id, m.topic, m.author, m.text, m.created_at_us
            FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
            WHERE w.id = $1 ORDER BY m.id LIMIT $2
            """, webhookId, limit);
        return await ReadDueAsync(fresh, cancellationToken);
    }

    public async Task RecordAsync(long webhookId, AttemptRecord attempt, CancellationToken cancellationToken)
    {
        var now = Now;
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var record = Command(connection,
            """
            INSERT INTO webhook_deliveries (webhook_id, message_id, state, attempts, last_status, last_error, next_attempt_at_us, delivered_at_us)
            SELECT $1, $2, $3, 1, $4, $5, $6, CASE WHEN $3 = 'delivered' THEN $7 END
            WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
            ON CONFLICT (webhook_id, message_id) DO UPDATE SET
                state = excluded.state, attempts = webhook_deliveries.attempts + 1, last_status = excluded.last_status,
                last_error = excluded.last_error, next_attempt_at_us = excluded.next_attempt_at_us, delivered_at_us = excluded.delivered_at_us
            """,
            webhookId, attempt.MessageId, attempt.State, (object?)attempt.Status ?? DBNull.Value, (object?)attempt.Error ?? DBNull.Value,
            attempt.RetryIn is { } retryIn ? now + (long)retryIn.TotalMicroseconds : DBNull.Value, now);
        record.Transaction = transaction;
        await record.ExecuteNonQueryAsync(cancellationToken);
        await using var advance = Command(connection,
            """
            UPDATE webhooks SET
                delivered_through = CASE WHEN $2 = 'pending' THEN delivered_through ELSE max(delivered_through, $3) END,
                state = CASE WHEN $4 THEN 'disabled' ELSE state END
            WHERE id = $1
            """, webhookId, attempt.State, attempt.MessageId, attempt.Disable);
        advance.Transaction = transaction;
        await advance.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task SkipAsync(long webhookId, long messageId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync(cancellationToken);
        await using var forget = Command(connection, "DELETE FROM webhook_deliveries WHERE webhook_id = $1 AND message_id = $2", webhookId, messageId);
        forget.Transaction = transaction;
        await forget.ExecuteNonQueryAsync(cancellationToken);
        await using var advance = Command(connection, "UPDATE webhooks SET delivered_through = max(delivered_through, $2) WHERE id = $1", webhookId, messageId);
        advance.Transaction = transaction;
        await advance.ExecuteNonQueryAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
    }

    public async Task<PendingSummary> PendingAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var command = Command(connection,
            """
            SELECT count(*), coalesce(min(created_at_us), 0) FROM (
                SELECT m.created_at_us FROM webhooks w JOIN messages m ON m.topic = w.topic AND m.id > w.delivered_through
                WHERE w.state = 'active'
                UNION ALL
                SELECT m.created_at_us FROM webhooks w
                JOIN webhook_deliveries d ON d.webhook_id = w.id AND d.state = 'pending' AND d.message_id <= w.delivered_through
                JOIN messages m ON m.id = d.message_id
                WHERE w.state = 'active')
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        var count = reader.GetInt64(0);
        var oldest = reader.GetInt64(1);
        return new PendingSummary(count, count == 0 ? 0 : Math.Max(0, (Now - oldest) / 1_000_000.0));
    }

    public async Task<IReadOnlyList<string>> ActiveTopicsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenForDeliveriesAsync(cancellationToken);
        await using var command = Command(connection, "SELECT DISTINCT topic FROM webhooks WHERE state = 'active'");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var topics = new List<string>();
        while (await reader.ReadAsync(cancellationToken))
        {
            topics.Add(reader.GetString(0));
        }
        return topics;
    }

    private async Task<SqliteConnection> OpenForDeliveriesAsync(CancellationToken cancellationToken)
    {
        var connection = await messages.OpenAsync(cancellationToken);
        await using var command = new SqliteCommand("PRAGMA synchronous = NORMAL", connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
        return connection;
    }

    /// <summary>A command with its values bound to $1, $2, ... in order.</summary>
    private static SqliteCommand Command(SqliteConnection connection, string sql, params object[] values)
    {
        var command = new SqliteCommand(sql, connection);
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters.AddWithValue($"${i + 1}", values[i]);
        }
        return command;
    }

    private static async Task<List<Webhook>> ReadWebhooksAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var webhooks = new List<Webhook>();
        while (await reader.ReadAsync(cancellationToken))
        {
            webhooks.Add(new Webhook(reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4),
                SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(5))));
        }
        return webhooks;
    }

    private static async Task<List<DueDelivery>> ReadDueAsync(SqliteCommand command, CancellationToken cancellationToken)
    {
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var due = new List<DueDelivery>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var message = reader.IsDBNull(3) ? null
                : new Message(reader.GetInt64(3), reader.GetString(4), reader.GetString(5), reader.GetString(6), SqliteMessageStore.FromUnixMicroseconds(reader.GetInt64(7)));
            due.Add(new DueDelivery(reader.GetInt64(0), message, reader.GetInt32(1), reader.GetBoolean(2)));
        }
        return due;
    }
}
