using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using MessageServer.Messages;

namespace MessageServer.Streaming;

/// <summary>The bytes of Server-Sent Events frames: one message, or one deletion.</summary>
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

    public static byte[] Deleted(long id) =>
        Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"event: deleted\ndata: {{\"id\":{id}}}\n\n"));
}
