using System.Buffers;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;

namespace MessageServer.Messages;

/// <summary>
/// Turns a publish request body (JSON object or plain text) into a <see cref="NewMessage"/>, or into the
/// precise problem that explains what to fix. Nothing reaches the store unless every rule holds.
/// </summary>
public static class PublishRequestReader
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    public static async Task<(NewMessage? Message, ProblemHttpResult? Problem)> ReadAsync(string topic, HttpRequest request, CancellationToken cancellationToken)
    {
        var kind = ClassifyContentType(request.ContentType);
        if (kind is BodyKind.Unsupported)
        {
            return (null, Problems.UnsupportedMediaType(request.ContentType));
        }
        if (request.ContentLength > InputRules.MaxBodyBytes)
        {
            return (null, Problems.TooLarge());
        }
        var body = await ReadBoundedAsync(request.Body, cancellationToken);
        if (body is null)
        {
            return (null, Problems.TooLarge());
        }
        return kind == BodyKind.Json
            ? FromJson(topic, body)
            : FromPlainText(topic, body, request.Headers["X-Author"]);
    }

    private static (NewMessage?, ProblemHttpResult?) FromJson(string topic, byte[] body)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException exception)
        {
            return (null, Problems.BadRequest("The body is not valid JSON: " + exception.Message.Split(" Path:")[0] + " Send {\"text\": \"...\", \"author\": \"...\"}."));
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, Problems.BadRequest($"The body must be a JSON object like {{\"text\": \"...\", \"author\": \"...\"}}, got {Describe(root.ValueKind)}."));
            }
            if (InputRules.FirstRepeatedProperty(root) is { } repeated)
            {
                // Parsers disagree on which of two values wins; a proxy or filter may have checked the other one.
                return (null, Problems.Invalid(repeated, $"{repeated} appears more than once in the JSON body; send each field once."));
            }
            var (text, textError) = ReadOptionalString(root, "text");
            if (textError is not null)
            {
                return (null, Problems.Invalid("text", textError));
            }
            var (author, authorError) = ReadOptionalString(root, "author");
            if (authorError is not null)
            {
                return (null, Problems.Invalid("author", authorError));
            }
            return Build(topic, text, author);
        }
    }

    private static (NewMessage?, ProblemHttpResult?) FromPlainText(string topic, byte[] body, string? author)
    {
        string text;
        try
        {
            text = StrictUtf8.GetString(body);
        }
        catch (DecoderFallbackException)
        {
            return (null, Problems.Invalid("text", "text/plain bodies must be UTF-8; the body holds bytes that are not."));
        }
        return Build(topic, text, author);
    }

    private static (NewMessage?, ProblemHttpResult?) Build(string topic, string? text, string? author)
    {
        if (InputRules.CheckText(text) is { } textError)
        {
            return (null, Problems.Invalid("text", textError));
        }
        var (normalizedAuthor, authorError) = InputRules.NormalizeAuthor(author);
        if (authorError is not null)
        {
            return (null, Problems.Invalid("author", authorError));
        }
        return (new NewMessage(topic, normalizedAuthor, text!), null);
    }

    private static (string? Value, string? Error) ReadOptionalString(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var property) || property.ValueKind == JsonValueKind.Null)
        {
            return (null, null);
        }
        if (property.ValueKind != JsonValueKind.String)
        {
            return (null, $"{name} must be a JSON string, got {Describe(property.ValueKind)}.");
        }
        try
        {
            return (property.GetString(), null);
        }
        catch (InvalidOperationException)
        {
            // The parser accepts the token; decoding finds invalid UTF-8 or an unpaired \uD800-style escape.
            return (null, $"{name} must be valid Unicode: it holds invalid UTF-8 or an unpaired surrogate escape.");
        }
    }

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.Object => "an object",
        JsonValueKind.Number => "a number",
        JsonValueKind.True or JsonValueKind.False => "a boolean",
        JsonValueKind.Null => "null",
        _ => kind.ToString().ToLowerInvariant(),
    };

    private enum BodyKind { Json, PlainText, Unsupported }

    private static BodyKind ClassifyContentType(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var mediaType) || mediaType.MediaType is null)
        {
            return BodyKind.Unsupported;
        }
        var charset = mediaType.CharSet?.Trim('"');
        if (charset is not null && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase) && !charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase))
        {
            return BodyKind.Unsupported;
        }
        var type = mediaType.MediaType;
        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || (type.StartsWith("application/", StringComparison.OrdinalIgnoreCase) && type.EndsWith("+json", StringComparison.OrdinalIgnoreCase)))
        {
            return BodyKind.Json;
        }
        return type.Equals("text/plain", StringComparison.OrdinalIgnoreCase) ? BodyKind.PlainText : BodyKind.Unsupported;
    }

    /// <summary>Reads the whole body, or returns null as soon as it exceeds the limit (without buffering the rest).</summary>
    private static async Task<byte[]?> ReadBoundedAsync(Stream body, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(InputRules.MaxBodyBytes + 1);
        try
        {
            var length = 0;
            int read;
            while ((read = await body.ReadAsync(buffer.AsMemory(length, buffer.Length - length), cancellationToken)) > 0)
            {
                length += read;
                if (length > InputRules.MaxBodyBytes)
                {
                    return null;
                }
            }
            return buffer.AsSpan(0, length).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
