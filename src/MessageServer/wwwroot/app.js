// The message-server web page: read a topic, post to it, watch it live over Server-Sent Events, and search
// every topic. User text is only ever set with textContent or as text nodes (search highlights too), so any
// HTML in a message shows as text.
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
  searchForm: document.getElementById("search-form"),
  search: document.getElementById("search"),
  searchResults: document.getElementById("search-results"),
  searchSummary: document.getElementById("search-summary"),
  searchClose: document.getElementById("search-close"),
  searchMore: document.getElementById("search-more"),
  results: document.getElementById("results"),
  resultTemplate: document.getElementById("result-template"),
};

const state = {
  topic: "",
  lastId: 0,
  rendered: new Map(), // message id -> <li>
  stream: null, // the AbortController of the open stream
  reopenTimer: 0,
  search: { query: "", terms: [], lastId: 0, count: 0 },
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
  elements.empty.hidden = state.rendered.size > 0 || !elements.searchResults.hidden;
}

function setTime(time, createdAt) {
  time.dateTime = createdAt;
  time.title = new Date(createdAt).toLocaleString();
  time.textContent = describeAge(new Date(createdAt));
}

function renderMessage(message) {
  if (message.topic !== state.topic || state.rendered.has(message.id)) {
    return;
  }
  const item = elements.template.content.firstElementChild.cloneNode(true);
  item.dataset.id = String(message.id);
  item.querySelector(".author").textContent = message.author;
  setTime(item.querySelector(".time"), message.createdAt);
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

// Opening a topic at a message (a search match): the latest page as always, plus the message and a few
// around it when it is older than that page, with a marker where messages in between are not shown.
async function loadAround(topic, id) {
  const path = `/api/topics/${encodeURIComponent(topic)}/messages`;
  const oldestShown = Math.min(...state.rendered.keys());
  const belowShown = Number.isFinite(oldestShown) ? `&before=${oldestShown}` : "";
  const page = (query) => api(`${path}?${query}`).then((r) => (r.ok ? r.json() : { messages: [] }));
  const [older, newer] = await Promise.all([page(`before=${id + 1}&limit=5`), page(`after=${id}${belowShown}&limit=5`)]);
  if (state.topic !== topic) {
    return;
  }
  const around = [...older.messages, ...newer.messages];
  around.forEach(renderMessage);
  const newestAround = Math.max(id, ...around.map((m) => m.id));
  if (Number.isFinite(oldestShown) && newer.messages.length === 5) {
    const between = await page(`after=${newestAround}&before=${oldestShown}&limit=1`);
    if (between.messages.length > 0 && state.rendered.has(oldestShown)) {
      const gap = document.createElement("li");
      gap.className = "gap";
      gap.textContent = "… newer messages not shown …";
      elements.messages.insertBefore(gap, state.rendered.get(oldestShown));
    }
  }
}

function focusMessage(id) {
  const item = state.rendered.get(id);
  if (!item) {
    showError("That message is no longer in this topic.");
    return;
  }
  for (const focused of elements.messages.querySelectorAll(".focused")) {
    focused.classList.remove("focused");
  }
  item.classList.add("focused");
  item.scrollIntoView({ block: "center" });
}

async function openTopic(topic, focusId = 0) {
  closeSearch();
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
      if (focusId && !state.rendered.has(focusId)) {
        await loadAround(topic, focusId);
      }
    }
  } catch {
    showError("The server cannot be reached; retrying.");
  }
  if (state.topic !== topic) {
    return;
  }
  updateEmpty();
  if (focusId) {
    focusMessage(focusId);
  } else {
    scrollToBottom();
  }
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

// The words of a query worth highlighting: not excluded ones, not OR, folded as the server folds them
// (case, accents, final sigma) closely enough to mark what it matched.
function fold(text) {
  return text.normalize("NFD").replace(/\p{M}/gu, "").toLowerCase().replace(/ς/g, "σ");
}

const wordPattern = /[\p{L}\p{M}\p{N}]+/gu;

function highlightTerms(query) {
  const terms = [];
  for (const chunk of query.match(/-*"[^"]*"?\*?|[^\s"]+/gu) || []) {
    if (chunk.startsWith("-") || chunk === "OR" || chunk === "AND") {
      continue;
    }
    const words = chunk.match(wordPattern) || [];
    words.forEach((word, i) => terms.push({ word: fold(word), prefix: chunk.endsWith("*") && i === words.length - 1 }));
  }
  return terms;
}

// Appends the text to the element as text nodes, with each matched word in a <mark>.
function appendHighlighted(element, text, terms) {
  let done = 0;
  for (const match of text.matchAll(wordPattern)) {
    const folded = fold(match[0]);
    if (terms.some((t) => (t.prefix ? folded.startsWith(t.word) : folded === t.word))) {
      element.append(text.slice(done, match.index));
      const mark = document.createElement("mark");
      mark.textContent = match[0];
      element.append(mark);
      done = match.index + match[0].length;
    }
  }
  element.append(text.slice(done));
}

function renderResult(message) {
  const item = elements.resultTemplate.content.firstElementChild.cloneNode(true);
  item.dataset.id = String(message.id);
  const link = item.querySelector(".result-link");
  link.href = `#${message.topic}`;
  link.addEventListener("click", (event) => {
    event.preventDefault();
    closeSearch();
    if (state.topic === message.topic && state.rendered.has(message.id)) {
      focusMessage(message.id);
    } else {
      openTopic(message.topic, message.id);
    }
  });
  item.querySelector(".topic").textContent = message.topic;
  appendHighlighted(item.querySelector(".author"), message.author, state.search.terms);
  setTime(item.querySelector(".time"), message.createdAt);
  appendHighlighted(item.querySelector(".text"), message.text, state.search.terms);
  elements.results.append(item);
}

const searchPageSize = 50;

async function runSearch(query, before) {
  const parameters = new URLSearchParams({ q: query, limit: String(searchPageSize) });
  if (before) {
    parameters.set("before", String(before));
  } else {
    state.search = { query, terms: highlightTerms(query), lastId: 0, count: 0 };
    elements.results.replaceChildren();
  }
  elements.searchResults.hidden = false;
  elements.messages.hidden = true;
  elements.empty.hidden = true;
  elements.searchMore.hidden = true;
  elements.searchSummary.textContent = "Searching…";
  try {
    const response = await api(`/api/search?${parameters}`);
    if (state.search.query !== query) {
      return;
    }
    if (!response.ok) {
      elements.searchSummary.textContent = await problemText(response);
      return;
    }
    const { messages } = await response.json();
    messages.forEach(renderResult);
    state.search.count += messages.length;
    state.search.lastId = messages.length ? messages[messages.length - 1].id : state.search.lastId;
    const more = messages.length === searchPageSize;
    elements.searchSummary.textContent = state.search.count === 0
      ? "No matches."
      : `${state.search.count}${more ? "+" : ""} ${state.search.count === 1 ? "match" : "matches"}, newest first`;
    elements.searchMore.hidden = !more;
  } catch {
    elements.searchSummary.textContent = "The server cannot be reached; try again.";
  }
}

function closeSearch() {
  elements.searchResults.hidden = true;
  elements.messages.hidden = false;
  updateEmpty();
}

elements.searchForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = elements.search.value.trim();
  if (query) {
    runSearch(query, 0);
  }
});
elements.searchMore.addEventListener("click", () => runSearch(state.search.query, state.search.lastId));
elements.searchClose.addEventListener("click", () => {
  closeSearch();
  scrollToBottom();
});
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
