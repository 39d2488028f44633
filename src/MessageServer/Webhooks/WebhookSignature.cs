using System.Security.Cryptography;
using System.Text;

namespace MessageServer.Webhooks;

/// <summary>
/// Secrets and signatures as the Standard Webhooks specification defines them (standardwebhooks.com), so receivers
/// verify with any of its libraries: the secret is "whsec_" + base64 of random bytes; the signature is
/// "v1," + base64(HMAC-SHA256(those bytes, "{webhook-id}.{webhook-timestamp}.{body}")).
/// </summary>
public static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";
    public const int MinSecretBytes = 24;
    public const int MaxSecretBytes = 64;

    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    /// <summary>Null when the secret is usable, else what is wrong with it.</summary>
    public static string? CheckSecret(string secret)
    {
        var expected = $"secret must be {SecretPrefix} followed by base64 of {MinSecretBytes} to {MaxSecretBytes} random bytes (leave it out to have one generated)";
        if (!secret.StartsWith(SecretPrefix, StringComparison.Ordinal))
        {
            return expected + ".";
        }
        var buffer = new byte[secret.Length];
        if (!Convert.TryFromBase64String(secret[SecretPrefix.Length..], buffer, out var length) || length is < MinSecretBytes or > MaxSecretBytes)
        {
            return expected + ".";
        }
        return null;
    }

    public static string Sign(string secret, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var key = Convert.FromBase64String(secret[SecretPrefix.Length..]);
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        var signed = new byte[prefix.Length + body.Length];
        prefix.CopyTo(signed, 0);
        body.CopyTo(signed.AsSpan(prefix.Length));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }
}
