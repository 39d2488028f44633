using System.Globalization;
using System.Text;

namespace MessageServer.ChangeFeed;

/// <summary>
/// The small text payloads of the change feed's NOTIFY (PostgreSQL caps one near 8000 bytes):
/// "m,ID,ID,..." for stored messages (split over several notifications when long) and "d,ID,TOPIC" for a delete.
/// </summary>
public static class ChangeNotification
{
    public const int MaxPayloadLength = 7000;

    public static string[] ForStored(IEnumerable<long> ids)
    {
        var payloads = new List<string>();
        var current = new StringBuilder("m");
        foreach (var id in ids)
        {
            var text = id.ToString(CultureInfo.InvariantCulture);
            if (current.Length + 1 + text.Length > MaxPayloadLength)
            {
                payloads.Add(current.ToString());
                current.Clear().Append('m');
            }
            current.Append(',').Append(text);
        }
        if (current.Length > 1)
        {
            payloads.Add(current.ToString());
        }
        return [.. payloads];
    }

    public static Parsed Parse(string payload)
    {
        var parts = payload.Split(',');
        return parts[0] switch
        {
            "m" => new Parsed.Stored(parts.Skip(1).Select(p => long.Parse(p, CultureInfo.InvariantCulture)).ToArray()),
            "d" when parts.Length >= 3 => new Parsed.Deleted(long.Parse(parts[1], CultureInfo.InvariantCulture), string.Join(',', parts.Skip(2))),
            _ => throw new FormatException($"Unknown change notification '{payload}'."),
        };
    }

    public abstract record Parsed
    {
        public sealed record Stored(long[] Ids) : Parsed;

        public sealed record Deleted(long Id, string Topic) : Parsed;
    }
}
