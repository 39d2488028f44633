#!/usr/bin/env python3
"""Load that a deploy's switch must not notice, as a client library that never retries would send it.

Keep-alive connections (http.client, one per thread) send a paced mix of publishes and reads; every exception or
non-2xx answer counts as a failed request and is never sent again (the next request opens a new connection).
Stream subscribers read one topic's Server-Sent Events and, when a stream ends, resume with Last-Event-ID, as
EventSource does. Runs until --stop-file exists (at most --max-seconds), waits for the subscribers to catch up,
then prints one JSON line: requests, failures, versions seen, and per subscriber whether it received every
acknowledged message exactly once, in order.

  switch_load.py --url http://127.0.0.1:5002 --stop-file F [--connect 127.0.0.1] [--cafile PEM] ...
"""
import argparse
import http.client
import json
import multiprocessing
import os
import socket
import ssl
import sys
import threading
import time
import urllib.parse


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the public base URL, http:// or https://")
    parser.add_argument("--connect", help="address to connect to instead of resolving the URL's host (like curl --resolve)")
    parser.add_argument("--cafile", help="PEM bundle to trust for https")
    parser.add_argument("--topic", default="switch-%d" % os.getpid())
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rate", type=float, default=320.0, help="requests per second, all connections together")
    parser.add_argument("--subscribers", type=int, default=50)
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--ready-file", help="created once every subscriber is connected")
    parser.add_argument("--max-seconds", type=float, default=180.0)
    parser.add_argument("--catch-up-seconds", type=float, default=30.0)
    return parser.parse_args()


class Target:
    def __init__(self, arguments):
        url = urllib.parse.urlsplit(arguments.url)
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.connect_address = arguments.connect or self.host
        self.context = None
        if self.https:
            self.context = ssl.create_default_context(cafile=arguments.cafile)
            self.context.set_alpn_protocols(["http/1.1"])

    def connection(self, timeout):
        if self.https:
            connection = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        else:
            connection = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        # The URL's name stays in the Host header and the TLS server name; only the TCP connection goes elsewhere.
        connection._create_connection = lambda _address, timeout_, source: socket.create_connection(
            (self.connect_address, self.port), timeout_, source)
        return connection


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.failures = []
        self.versions = {}
        self.acknowledged = []

    def record(self, failure=None, version=None, message_id=None):
        with self.lock:
            self.requests += 1
            if failure:
                self.failures.append(failure)
            if version:
                self.versions[version] = self.versions.get(version, 0) + 1
            if message_id is not None:
                self.acknowledged.append(message_id)


def send_requests(target, topic, interval, number, stop, results):
    connection = target.connection(timeout=10)
    sequence = 0
    next_time = time.monotonic()
    while not stop.is_set():
        sequence += 1
        kind = sequence % 3
        try:
            if kind == 0:
                body = ("message %d-%d" % (number, sequence)).encode()
                connection.request("POST", "/api/topics/%s/messages" % topic, body=body, headers={"Content-Type": "text/plain"})
            elif kind == 1:
                connection.request("GET", "/health")
            else:
                connection.request("GET", "/api/topics/%s/messages?limit=5" % topic)
            response = connection.getresponse()
            payload = response.read()
            if response.status >= 300:
                results.record(failure="HTTP %d on %s" % (response.status, ["POST", "health", "read"][kind]))
            elif kind == 0:
                results.record(message_id=json.loads(payload)["id"])
            elif kind == 1:
                results.record(version=json.loads(payload)["version"])
            else:
                results.record()
        except (OSError, http.client.HTTPException, ValueError) as error:
            results.record(failure="%s on %s" % (type(error).__name__, ["POST", "health", "read"][kind]))
            connection.close()
            connection = target.connection(timeout=10)
        next_time += interval
        time.sleep(max(0.0, next_time - time.monotonic()))
    connection.close()


class Subscriber(threading.Thread):
    def __init__(self, target, topic, stop_reading):
        super().__init__(daemon=True)
        self.target, self.topic, self.stop_reading = target, topic, stop_reading
        self.received = []
        self.last_id = None
        self.connected = threading.Event()
        self.resumes = 0
        self.errors = 0

    def run(self):
        while not self.stop_reading.is_set():
            try:
                self.read_stream()
            except (OSError, http.client.HTTPException):
                self.errors += 1
            if not self.stop_reading.is_set():
                self.resumes += 1
                time.sleep(0.2)

    def read_stream(self):
        # Longer than the stream's 15 s heartbeat: a silent stream is a dead one.
        connection = self.target.connection(timeout=40)
        headers = {"Accept": "text/event-stream"}
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        try:
            connection.request("GET", "/api/topics/%s/stream" % self.topic, headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                raise http.client.HTTPException("stream answered %d" % response.status)
            self.connected.set()
            event_id, event_type = None, "message"
            while not self.stop_reading.is_set():
                # Through the response, not its socket: a stream through the proxy is chunked, and its end
                # is the last chunk, not the connection closing.
                line = response.readline()
                if not line:
                    return
                line = line.decode().rstrip("\r\n")
                if line.startswith("id:"):
                    event_id = int(line[3:].strip())
                elif line.startswith("event:"):
                    event_type = line[6:].strip()
                elif line == "":
                    if event_id is not None and event_type == "message":
                        self.received.append(event_id)
                        self.last_id = event_id
                    event_id, event_type = None, "message"
        finally:
            connection.close()


def run_subscribers(arguments, target, ready, expected_queue, result_queue):
    """The subscribers' own process: parsing thousands of events a second must not take the GIL from the senders."""
    stop_reading = threading.Event()
    subscribers = [Subscriber(target, arguments.topic, stop_reading) for _ in range(arguments.subscribers)]
    for subscriber in subscribers:
        subscriber.start()
    for subscriber in subscribers:
        subscriber.connected.wait(30)
    ready.set()
    expected = expected_queue.get()
    deadline = time.monotonic() + arguments.catch_up_seconds
    while time.monotonic() < deadline and any(len(s.received) < len(expected) for s in subscribers):
        time.sleep(0.2)
    stop_reading.set()
    result_queue.put({
        "subscribers": len(subscribers),
        "subscribers_exact": sum(1 for s in subscribers if s.received == expected),
        "subscribers_resumed": sum(1 for s in subscribers if s.resumes > 0),
        "most_received": max((len(s.received) for s in subscribers), default=0),
        "fewest_received": min((len(s.received) for s in subscribers), default=0),
    })
    # The queue sends from a thread of its own: let it finish before the threads still reading are cut off.
    result_queue.close()
    result_queue.join_thread()
    os._exit(0)


def main():
    arguments = parse_arguments()
    target = Target(arguments)
    results = Results()
    stop_sending = threading.Event()

    context = multiprocessing.get_context("fork")
    ready, expected_queue, result_queue = context.Event(), context.Queue(), context.Queue()
    reader = context.Process(target=run_subscribers, args=(arguments, target, ready, expected_queue, result_queue), daemon=True)
    reader.start()
    ready.wait(60)
    if arguments.ready_file:
        open(arguments.ready_file, "w").close()

    interval = arguments.connections / arguments.rate
    senders = [threading.Thread(target=send_requests, args=(target, arguments.topic, interval, n, stop_sending, results), daemon=True)
               for n in range(arguments.connections)]
    started = time.monotonic()
    for sender in senders:
        sender.start()
    while not os.path.exists(arguments.stop_file) and time.monotonic() - started < arguments.max_seconds:
        time.sleep(0.1)
    stop_sending.set()
    for sender in senders:
        sender.join()
    seconds = time.monotonic() - started

    expected = sorted(results.acknowledged)
    expected_queue.put(expected)
    subscribers = result_queue.get(timeout=arguments.catch_up_seconds + 30)
    failure_kinds = {}
    for failure in results.failures:
        failure_kinds[failure] = failure_kinds.get(failure, 0) + 1
    print(json.dumps({
        "requests": results.requests,
        "failed": len(results.failures),
        "failure_kinds": failure_kinds,
        "seconds": round(seconds, 1),
        "requests_per_second": round(results.requests / seconds, 1) if seconds else 0,
        "versions": results.versions,
        "messages": len(expected),
        **subscribers,
    }))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
