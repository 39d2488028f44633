// The message-server web page: read a topic, post to it, and watch it live over Server-Sent Events.
// User text is only ever set with textContent, so any HTML in a message shows as text.
"use strict";

const topicPattern = /^[A-Za-z0-9_-]{1,64}$/;
const elements = {
  topicForm: document.getElementById("topic-form"),
  topic: document.getElementById("topic"),
  topicList: document.getElementById("topic-list"),
  status: document.getElementById("status"),
  scroller: document.getElementById("scroller"),
  messages: document.getElementById("messages"),
  empty: document.getElementById("empty"),
  postForm: document.getElementById("post-form"),
  author: document.getElementById("author"),
  text: document.getElementById("text"),
  send: document.getElementById("send"),
  token: document.getElementById("token"),
  rememberToken: document.getElementById("remember-token"),
  error: document.getElementById("error"),
  template: document.getElementById("message-template"),
};

const state = {
  topic: "",
  lastId: 0,
  rendered: new Map(), // message id -> <li>
  stream: null, // the AbortController of the open stream
  reopenTimer: 0,
  retryMs: 2000, // the server's retry: hint
};

const relativeTime = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

function describeAge(date) {
  const seconds = Math.round((date.getTime() - Date.now()) / 1000);
  const steps = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
  for (const [unit, size] of steps) {
    if (Math.abs(seconds) >= size) {
      return relativeTime.format(Math.round(seconds / size), unit);
    }
  }
  return Math.abs(seconds) < 10 ? "just now" : relativeTime.format(seconds, "second");
}

// With a token, every call (the stream included) sends it as a bearer token, never in a URL.
function authHeaders() {
  const token = elements.token.value.trim();
  return token ? { Authorization: `Bearer ${token}` } : {};
}

function api(path, options = {}) {
  return fetch(path, { ...options, headers: { ...(options.headers || {}), ...authHeaders() } });
}

function setStatus(name) {
  elements.status.dataset.state = name;
  elements.status.textContent = name;
}

function showError(text) {
  elements.error.textContent = text;
  elements.error.hidden = !text;
}

async function problemText(response) {
  try {
    const problem = await response.json();
    return problem.detail || problem.title || `HTTP ${response.status}`;
  } catch {
    return `HTTP ${response.status}`;
  }
}

function isNearBottom() {
  const s = elements.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
}

function scrollToBottom() {
  elements.scroller.scrollTop = elements.scroller.scrollHeight;
}

function updateEmpty() {
  elements.empty.hidden = state.rendered.size > 0;
}

function renderMessage(message) {
  if (message.topic !== state.topic || state.rendered.has(message.id)) {
    return;
  }
  const item = elements.template.content.firstElementChild.cloneNode(true);
  item.dataset.id = String(message.id);
  item.querySelector(".author").textContent = message.author;
  const time = item.querySelector(".time");
  time.dateTime = message.createdAt;
  time.title = new Date(message.createdAt).toLocaleString();
  time.textContent = describeAge(new Date(message.createdAt));
  item.querySelector(".text").textContent = message.text;
  item.querySelector(".delete").addEventListener("click", () => deleteMessage(message.id));

  // Keep ascending id order even if a message arrives out of turn (e.g. our own POST answer after the stream).
  const next = [...state.rendered.keys()].filter((id) => id > message.id).sort((a, b) => a - b)[0];
  const stickToBottom = isNearBottom();
  elements.messages.insertBefore(item, next === undefined ? null : state.rendered.get(next));
  state.rendered.set(message.id, item);
  state.lastId = Math.max(state.lastId, message.id);
  updateEmpty();
  if (stickToBottom) {
    scrollToBottom();
  }
}

function removeMessage(id) {
  const item = state.rendered.get(id);
  if (item) {
    item.remove();
    state.rendered.delete(id);
    updateEmpty();
  }
}

async function deleteMessage(id) {
  const response = await api(`/api/messages/${id}`, { method: "DELETE" });
  if (response.ok || response.status === 404) {
    removeMessage(id);
  } else {
    showError(await problemText(response));
  }
}

function closeStream() {
  clearTimeout(state.reopenTimer);
  if (state.stream) {
    state.stream.abort();
    state.stream = null;
  }
}

// The stream is read with fetch rather than EventSource so that the token goes in the Authorization header, not
// in the URL, where proxies' access logs would keep it. Like EventSource it reconnects after the server's retry
// delay, resuming after the last id we have: nothing is missed and nothing is shown twice. It stops for good when
// the server says the token may not (or no longer) read the topic.
function openStream() {
  closeStream();
  const topic = state.topic;
  const controller = new AbortController();
  state.stream = controller;
  setStatus("connecting");
  readStream(topic, controller).then((outcome) => {
    if (state.stream !== controller) {
      return;
    }
    if (outcome === "stop") {
      state.stream = null;
      setStatus("offline");
      return;
    }
    setStatus("reconnecting");
    state.reopenTimer = setTimeout(() => state.topic === topic && openStream(), state.retryMs);
  });
}

async function readStream(topic, controller) {
  let response;
  try {
    response = await fetch(`/api/topics/${encodeURIComponent(topic)}/stream?after=${state.lastId}`, {
      headers: { Accept: "text/event-stream", ...authHeaders() },
      cache: "no-store",
      signal: controller.signal,
    });
  } catch {
    return "retry";
  }
  if ([400, 401, 403].includes(response.status)) {
    showError(await problemText(response));
    return "stop";
  }
  if (!response.ok || !response.body) {
    return "retry"; // e.g. 503 while the server restarts
  }
  setStatus("live");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  let event = { type: "", data: [] };
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return "retry";
      }
      const lines = (pending + value).split(/\r\n|\r|\n/);
      pending = lines.pop();
      for (const line of lines) {
        if (line === "") {
          if (dispatch(event) === "stop") {
            controller.abort();
            return "stop";
          }
          event = { type: "", data: [] };
        } else if (!line.startsWith(":")) {
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const fieldValue = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") {
            event.type = fieldValue;
          } else if (field === "data") {
            event.data.push(fieldValue);
          } else if (field === "retry" && /^\d+$/.test(fieldValue)) {
            state.retryMs = Number(fieldValue);
          }
        }
      }
    }
  } catch {
    return "retry";
  }
}

function dispatch(event) {
  if (event.data.length === 0) {
    return "";
  }
  const data = JSON.parse(event.data.join("\n"));
  switch (event.type || "message") {
    case "message":
      renderMessage(data);
      break;
    case "deleted":
      removeMessage(data.id);
      break;
    case "revoked":
      showError(`${data.reason} Enter a valid token to watch this topic again.`);
      return "stop";
  }
  return "";
}

async function loadTopics() {
  try {
    const response = await api("/api/topics");
    if (!response.ok) {
      return;
    }
    const { topics } = await response.json();
    elements.topicList.replaceChildren(...topics.map((t) => {
      const option = document.createElement("option");
      option.value = t.name;
      option.label = `${t.messageCount} messages`;
      return option;
    }));
  } catch {
    // The list is a convenience; the page works without it.
  }
}

async function openTopic(topic) {
  closeStream();
  state.topic = topic;
  state.lastId = 0;
  state.rendered.clear();
  elements.messages.replaceChildren();
  elements.topic.value = topic;
  document.title = `${topic} · message-server`;
  localStorage.setItem("topic", topic);
  if (location.hash !== `#${topic}`) {
    history.replaceState(null, "", `#${topic}`);
  }
  showError("");
  try {
    const response = await api(`/api/topics/${encodeURIComponent(topic)}/messages?limit=50`);
    if (!response.ok) {
      showError(await problemText(response));
    } else {
      const { messages } = await response.json();
      if (state.topic !== topic) {
        return;
      }
      messages.forEach(renderMessage);
    }
  } catch {
    showError("The server cannot be reached; retrying.");
  }
  updateEmpty();
  scrollToBottom();
  if (state.topic === topic) {
    openStream();
  }
}

async function publish(event) {
  event.preventDefault();
  const text = elements.text.value;
  if (!text.trim()) {
    return;
  }
  const author = elements.author.value.trim();
  localStorage.setItem("author", author);
  elements.send.disabled = true;
  showError("");
  try {
    const response = await api(`/api/topics/${encodeURIComponent(state.topic)}/messages`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(author ? { text, author } : { text }),
    });
    if (response.status === 201) {
      renderMessage(await response.json());
      elements.text.value = "";
      scrollToBottom();
    } else {
      showError(await problemText(response));
    }
  } catch {
    showError("The server cannot be reached; your message was not sent.");
  } finally {
    elements.send.disabled = false;
    elements.text.focus();
  }
}

elements.topicForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const topic = elements.topic.value.trim();
  if (topicPattern.test(topic)) {
    openTopic(topic);
  }
});
elements.postForm.addEventListener("submit", publish);
elements.text.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    elements.postForm.requestSubmit();
  }
});
window.addEventListener("hashchange", () => {
  const topic = decodeURIComponent(location.hash.slice(1));
  if (topicPattern.test(topic) && topic !== state.topic) {
    openTopic(topic);
  }
});
setInterval(() => {
  for (const time of elements.messages.querySelectorAll("time")) {
    time.textContent = describeAge(new Date(time.dateTime));
  }
}, 30000);

// The token stays with this tab (sessionStorage) unless "remember on this device" is ticked (localStorage).
function saveToken() {
  const token = elements.token.value.trim();
  sessionStorage.removeItem("token");
  localStorage.removeItem("remembered-token");
  if (token && elements.rememberToken.checked) {
    localStorage.setItem("remembered-token", token);
  } else if (token) {
    sessionStorage.setItem("token", token);
  }
}

function loadToken() {
  // Earlier versions kept every token in localStorage without asking: keep it for this tab only.
  const unasked = localStorage.getItem("token");
  if (unasked !== null) {
    localStorage.removeItem("token");
    sessionStorage.setItem("token", sessionStorage.getItem("token") || unasked);
  }
  const remembered = localStorage.getItem("remembered-token");
  elements.rememberToken.checked = remembered !== null;
  elements.token.value = remembered ?? sessionStorage.getItem("token") ?? "";
}

elements.token.addEventListener("change", () => {
  saveToken();
  openTopic(state.topic);
  loadTopics();
});
elements.rememberToken.addEventListener("change", saveToken);

elements.author.value = localStorage.getItem("author") || "";
loadToken();
const fromHash = decodeURIComponent(location.hash.slice(1));
openTopic(topicPattern.test(fromHash) ? fromHash : (localStorage.getItem("topic") || "general"));
loadTopics();
