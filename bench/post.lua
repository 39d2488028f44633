-- wrk script: durable publishes of a realistic message, as JSON.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"text": "disk usage on web-1 is at 91 percent, cleaning up old release folders now", "author": "bench"}'
