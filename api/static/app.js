// The News QA page: plain DOM code, no framework, no network but this service.
// Every highlight is drawn from the offsets the API returns, never by searching text.
"use strict";

const $ = (id) => document.getElementById(id);
const PAGE = 20;
let nextAfter = null;

function endpoint(path) {
  // Relative to the page, so that the app works under any mount prefix.
  return new URL(path, document.baseURI).toString();
}

function storedKey() {
  return sessionStorage.getItem("qa-api-key") || "";
}

function askForKey(rejected) {
  return new Promise((resolve) => {
    const dialog = $("key-dialog");
    const input = $("api-key");
    input.value = "";
    $("key-why").textContent = rejected
      ? "API key rejected: the key given is not this service's key. Enter the right one."
      : "This service protects this action with an API key.";
    const done = (ok) => {
      dialog.close();
      if (ok && input.value) sessionStorage.setItem("qa-api-key", input.value);
      resolve(ok && Boolean(input.value));
    };
    $("key-form").onsubmit = (event) => { event.preventDefault(); done(true); };
    $("key-cancel").onclick = () => done(false);
    dialog.showModal();
    input.focus();
  });
}

function describe(detail) {
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return String(detail || "");
}

async function api(method, path, body, retried = false, raw = undefined) {
  // ``raw``: a file's bytes, sent as they are (POST documents/import).
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (raw !== undefined) headers["Content-Type"] = "application/octet-stream";
  if (storedKey()) headers["Authorization"] = `Bearer ${storedKey()}`;
  let response;
  try {
    response = await fetch(endpoint(path), {
      method, headers, body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error("The service did not answer. Is it running?");
  }
  if (response.status === 401 && !retried) {
    const rejected = Boolean(storedKey());
    sessionStorage.removeItem("qa-api-key");
    if (await askForKey(rejected)) return api(method, path, body, true, raw);
  }
  if (!response.ok) {
    let detail = response.statusText;
    try { detail = describe((await response.json()).detail) || detail; } catch (_) { /* not JSON */ }
    throw new Error(`${response.status}: ${detail}`);
  }
  return response.status === 204 ? null : response.json();
}

function status(id, text, isError = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function utf16Index(text, codePoints) {
  // The API's offsets count code points (Python's str); a JavaScript string indexes UTF-16
  // units, two for each character beyond U+FFFF (most emoji).
  let units = 0;
  for (let seen = 0; seen < codePoints && units < text.length; seen++) {
    units += text.codePointAt(units) > 0xffff ? 2 : 1;
  }
  return units;
}

function highlighted(text, start, end) {
  // Three text nodes around one <mark>: the offsets decide, the text is never searched.
  const from = utf16Index(text, start);
  const to = from + utf16Index(text.slice(from), end - start);
  const mark = el("mark", {}, text.slice(from, to));
  const span = el("span", {}, text.slice(0, from), mark, text.slice(to));
  return { span, mark };
}

function percent(score) {
  return `${Math.round(score * 100)}%`;
}

function plural(n, word) {
  return `${n.toLocaleString()} ${word}${n === 1 ? "" : "s"}`;
}

function day(published) {
  // "2021-07-05". A date-time is shown by its day in UTC, the day the date filters give it
  // ("2021-07-05T05:00:00+14:00" is 4 July); its full value is in the tooltip.
  if (!published) return "";
  if (published.length <= 10) return published;
  const moment = new Date(published);
  return Number.isNaN(moment.getTime()) ? published.slice(0, 10) : moment.toISOString().slice(0, 10);
}

function sourceLine(item) {
  // How a reader of news names a source: headline · outlet · date; the id is in the tooltip.
  let title = item.title || item.doc_id;
  if (title.length > 100) title = `${title.slice(0, 99).trimEnd()}…`;
  return [title, item.source, day(item.published)].filter(Boolean).join(" · ");
}

function confidenceView(score) {
  const fill = el("span");
  fill.style.width = percent(score);
  return el("span", { class: "score" },
    el("span", { class: "bar", "aria-hidden": "true" }, fill),
    `Confidence ${percent(score)}`);
}

function disagreement(reply) {
  // Different answers to one question: the sources disagree (or a figure changed over time).
  const texts = new Set(reply.answers.map((a) => a.text.trim().toLowerCase()));
  return texts.size > 1;
}

function renderAnswers(reply) {
  const box = $("answers");
  box.replaceChildren();
  const answered = $("answered");
  answered.hidden = false;
  answered.classList.remove("stale");
  answered.dataset.question = reply.question;
  answered.textContent = `Answers to \u201c${reply.question}\u201d`;
  if (!reply.answers.length) {
    box.append(el("p", { class: "none" },
      "No answer in the corpus. These are the passages that were read:"));
  }
  const disputed = disagreement(reply);
  if (disputed) {
    box.append(el("p", { class: "disagree", role: "note" },
      `The sources disagree: ${reply.answers.length} different answers.`,
      reply.note ? ` ${reply.note}` : ""));
  }
  reply.answers.forEach((answer, i) => {
    const citations = answer.citations.map((c) => {
      const { span } = highlighted(c.context, c.context_start, c.context_end);
      const where = `${c.doc_id} · paragraph ${c.paragraph} · characters ${c.start}–${c.end}`;
      return el("button", {
        type: "button", class: "citation", "data-doc": c.doc_id, title: where,
        "aria-label": `Open ${sourceLine(c)} at the answer`,
        onclick: () => openDocument(c.doc_id, c.start, c.end),
      },
      el("span", { class: "source" },
        el("span", { class: "headline" }, sourceLine(c)),
        el("span", { class: "share", title: "how much of the answer's support this source gives" },
          `Share of support ${percent(c.score)}`)),
      span);
    });
    const heading = el("h3", {}, `${i + 1}. ${answer.text}`, confidenceView(answer.score));
    if (disputed) heading.append(el("span", { class: "badge" }, "Sources disagree"));
    const dates = answer.dates && answer.dates.length
      ? el("p", { class: "dates muted" }, `Reported ${answer.dates.join(", ")}`) : "";
    box.append(el("article", { class: disputed ? "answer disputed" : "answer" }, heading, dates, ...citations));
  });
  const list = $("passages");
  list.replaceChildren(...reply.passages.map((p) => el("li", {},
    el("span", { class: "muted", title: `${p.doc_id} · paragraph ${p.paragraph}` },
      `${sourceLine(p)} (relevance ${percent(p.score)}) `), p.text)));
  $("passages-box").hidden = !reply.passages.length;
  $("passages-box").open = !reply.answers.length;
}

function markStale() {
  // The answers on screen belong to the question asked, not to the one now typed.
  const answered = $("answered");
  if (answered.hidden) return;
  const stale = $("question").value.trim() !== answered.dataset.question;
  answered.classList.toggle("stale", stale);
  answered.textContent = stale
    ? `These answers are to \u201c${answered.dataset.question}\u201d: press Ask for the new question.`
    : `Answers to \u201c${answered.dataset.question}\u201d`;
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) { status("ask-status", "Type a question first.", true); return; }
  const button = $("ask-button");
  button.disabled = true;
  status("ask-status", "Reading the passages…");
  try {
    const body = { question, top_k: Number($("top-k").value) || 5 };
    if ($("after").value) body.published_after = $("after").value;
    if ($("before").value) body.published_before = $("before").value;
    const reply = await api("POST", "ask", body);
    renderAnswers(reply);
    const n = reply.answers.length;
    const when = body.published_after || body.published_before
      ? ` (published ${body.published_after || "…"} to ${body.published_before || "…"})` : "";
    status("ask-status", (n ? `${plural(n, "answer")}, best first.` : "No answer found.") + when);
  } catch (error) {
    status("ask-status", error.message, true);
  } finally {
    button.disabled = false;
  }
}

function show(view) {
  for (const name of ["ask", "docs", "doc"]) $(`view-${name}`).hidden = name !== view;
  $("tab-ask").setAttribute("aria-pressed", String(view === "ask"));
  $("tab-docs").setAttribute("aria-pressed", String(view === "docs"));
}

let returnTo = "ask";
let opener = null;

function goBack() {
  // Back to where the person was, with focus on what they opened the document from.
  show(returnTo);
  const target = opener && opener.isConnected ? opener : $(returnTo === "docs" ? "docs-heading" : "question");
  target.focus();
}

function documentMeta(doc) {
  const parts = [];
  const from = doc.fields_from || {};
  const where = { page: "from the page's metadata", text: "found in the text" };
  const mark = (field, text) => (where[from[field]] ? `${text} (${where[from[field]]})` : text);
  if (doc.source) parts.push(mark("source", doc.source));
  if (doc.published) parts.push(mark("published", doc.published));
  parts.push(`${doc.doc_id} · ${plural(doc.text.length, "character")}`);
  return parts.join(" · ");
}

async function openDocument(docId, start, end) {
  returnTo = $("view-docs").hidden ? "ask" : "docs";
  opener = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
  show("doc");
  $("doc-heading").textContent = docId;
  $("doc-meta").textContent = "Loading…";
  $("doc-meta").classList.remove("error");
  $("doc-text-view").replaceChildren();
  try {
    const doc = await api("GET", `documents/${encodeURIComponent(docId)}`);
    $("doc-heading").textContent = doc.title || doc.doc_id;
    $("doc-heading").title = doc.title || doc.doc_id;
    $("doc-meta").textContent = documentMeta(doc);
    if (doc.url) {
      $("doc-meta").append(" · ", el("a", { href: doc.url, rel: "noopener noreferrer", target: "_blank" }, "original"));
    }
    if (start === undefined) {
      $("doc-text-view").textContent = doc.text;
      $("doc-heading").focus();
      return;
    }
    const { span, mark } = highlighted(doc.text, start, end);
    mark.id = "cited";
    mark.tabIndex = -1;
    $("doc-text-view").replaceChildren(span);
    mark.scrollIntoView({ block: "center" });
    mark.focus({ preventScroll: true });
  } catch (error) {
    $("doc-meta").textContent = error.message;
    $("doc-meta").classList.add("error");
  }
}

async function loadDocuments(reset) {
  if (reset) { nextAfter = null; $("docs-body").replaceChildren(); }
  status("docs-status", "Loading documents…");
  try {
    const query = `documents?limit=${PAGE}` + (nextAfter ? `&after=${encodeURIComponent(nextAfter)}` : "");
    const page = await api("GET", query);
    for (const d of page.documents) {
      $("docs-body").append(el("tr", { "data-doc": d.doc_id },
        el("td", { "data-label": "Headline" }, el("button", {
          type: "button", class: "link headline", title: d.doc_id, onclick: () => openDocument(d.doc_id),
        }, d.title || d.doc_id)),
        el("td", { "data-label": "Outlet" }, d.source || "—"),
        el("td", { "data-label": "Published", title: d.published || "" }, day(d.published) || "—"),
        el("td", { "data-label": "Passages" }, String(d.passages)),
        el("td", {}, el("button", {
          type: "button", class: "secondary", "aria-label": `Delete ${d.doc_id}`,
          onclick: () => removeDocument(d.doc_id),
        }, "Delete"))));
    }
    nextAfter = page.next;
    $("more-docs").hidden = !nextAfter;
    status("docs-status", $("docs-body").children.length ? "" : "No documents yet.");
  } catch (error) {
    status("docs-status", error.message, true);
  }
}

async function removeDocument(docId) {
  if (!window.confirm(`Delete ${docId}?`)) return;
  try {
    await api("DELETE", `documents/${encodeURIComponent(docId)}`);
    status("docs-status", `Deleted ${docId}.`);
    document.querySelector(`tr[data-doc="${CSS.escape(docId)}"]`)?.remove();
  } catch (error) {
    status("docs-status", error.message, true);
  }
}

const MULTI = /\.(rss|atom|xml|jsonl|ndjson)$/i;
const HTML_FILE = /\.html?$/i;

async function addDocument(event) {
  event.preventDefault();
  const file = $("doc-file").files[0];
  const typedId = $("doc-id").value.trim();
  const docId = typedId || (file ? file.name.replace(/\.[^.]*$/, "") : "");
  $("add-button").disabled = true;
  try {
    let written;
    if (file && MULTI.test(file.name)) {
      // A feed or a JSON Lines export: every document it holds, with its own ids and fields.
      status("docs-status", `Adding the documents of ${file.name}…`);
      const reply = await api("POST", `documents/import?name=${encodeURIComponent(file.name)}`,
        undefined, false, await file.arrayBuffer());
      written = reply.documents;
    } else {
      const text = file ? await file.text() : $("doc-text").value;
      if (!docId || !text.trim()) {
        status("docs-status", "Give an id and some text, or choose a file (its name is the id).", true);
        return;
      }
      const body = { doc_id: docId, text };
      if (file && HTML_FILE.test(file.name)) body.format = "html";
      if ($("doc-title").value.trim()) body.title = $("doc-title").value.trim();
      if ($("doc-published").value) body.published = $("doc-published").value;
      if ($("doc-source").value.trim()) body.source = $("doc-source").value.trim();
      status("docs-status", `Adding ${docId}…`);
      written = [await api("POST", "documents", body)];
    }
    $("add-form").reset();
    await loadDocuments(true);
    const passages = written.reduce((sum, d) => sum + d.passages, 0);
    const warnings = written.filter((d) => d.warning).map((d) => ` ${d.doc_id}: ${d.warning}`).join("");
    const what = written.length === 1 ? `Added ${written[0].doc_id}` : `Added ${plural(written.length, "document")}`;
    status("docs-status", `${what}: ${plural(passages, "passage")}.${warnings}`);
  } catch (error) {
    status("docs-status", error.message, true);
  } finally {
    $("add-button").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("ask-form").addEventListener("submit", ask);
  $("add-form").addEventListener("submit", addDocument);
  $("tab-ask").addEventListener("click", () => show("ask"));
  $("tab-docs").addEventListener("click", () => { show("docs"); loadDocuments(true); });
  $("more-docs").addEventListener("click", () => loadDocuments(false));
  $("back").addEventListener("click", goBack);
  $("question").addEventListener("input", markStale);
  $("clear-dates").addEventListener("click", () => { $("after").value = ""; $("before").value = ""; });
  $("question").focus();
});
