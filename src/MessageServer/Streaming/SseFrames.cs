using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MessageServer.Messages;

namespace MessageServer.Streaming;

/// <summary>The bytes of Server-Sent Events frames: one message, one deletion, or the end of a revoked stream.</summary>
public static class SseFrames
{
    public static byte[] Message(Message message)
    {
        var buffer = new ArrayBufferWriter<byte>(256 + message.Text.Length);
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"id: {message.Id}\nevent: message\ndata: "), buffer);
        using (var json = new Utf8JsonWriter(buffer))
        {
            JsonSerializer.Serialize(json, message, MessageJsonContext.Default.Message);
        }
        Encoding.UTF8.GetBytes("\n\n", buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// The last frame of a stream whose token lost the right to it: the reason, and a reconnection delay of a day so
    /// that an EventSource does not come back every few seconds with the dead token.
    /// </summary>
    public static byte[] Revoked(string reason)
    {
        var buffer = new ArrayBufferWriter<byte>(128 + reason.Length);
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"retry: {(int)TimeSpan.FromDays(1).TotalMilliseconds}\nevent: revoked\ndata: "), buffer);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("reason", reason);
            json.WriteEndObject();
        }
        Encoding.UTF8.GetBytes("\n\n", buffer);
        return buffer.WrittenSpan.ToArray();
    }

    public static byte[] Deleted(long id) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"event: deleted\ndata: {{\"id\":{id}}}\n\n"));
}
