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

function askForKey() {
  return new Promise((resolve) => {
    const dialog = $("key-dialog");
    const input = $("api-key");
    input.value = "";
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

async function api(method, path, body, retried = false) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (storedKey()) headers["Authorization"] = `Bearer ${storedKey()}`;
  let response;
  try {
    response = await fetch(endpoint(path), {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error("The service did not answer. Is it running?");
  }
  if (response.status === 401 && !retried) {
    if (await askForKey()) return api(method, path, body, true);
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

function scoreView(score) {
  const fill = el("span");
  fill.style.width = percent(score);
  return el("span", { class: "score" },
    el("span", { class: "bar", role: "img", "aria-label": `confidence ${percent(score)}` }, fill),
    percent(score));
}

function renderAnswers(reply) {
  const box = $("answers");
  box.replaceChildren();
  if (!reply.answers.length) {
    box.append(el("p", { class: "none" },
      "No answer in the corpus. These are the passages that were read:"));
  }
  reply.answers.forEach((answer, i) => {
    const citations = answer.citations.map((c) => {
      const { span } = highlighted(c.context, c.context_start, c.context_end);
      return el("button", {
        type: "button", class: "citation",
        "aria-label": `Open ${c.doc_id}, paragraph ${c.paragraph}, at the answer`,
        onclick: () => openDocument(c.doc_id, c.start, c.end),
      }, el("span", { class: "source" }, `${c.doc_id} · ¶${c.paragraph} · chars ${c.start}–${c.end} · ${percent(c.score)}`), span);
    });
    box.append(el("article", { class: "answer" },
      el("h3", {}, `${i + 1}. ${answer.text}`, scoreView(answer.score)),
      ...citations));
  });
  const list = $("passages");
  list.replaceChildren(...reply.passages.map((p) => el("li", {},
    el("span", { class: "muted" }, `${p.doc_id} ¶${p.paragraph} (${percent(p.score)}) `), p.text)));
  $("passages-box").hidden = !reply.passages.length;
  $("passages-box").open = !reply.answers.length;
}

async function ask(event) {
  event.preventDefault();
  const question = $("question").value.trim();
  if (!question) { status("ask-status", "Type a question first.", true); return; }
  const button = $("ask-button");
  button.disabled = true;
  status("ask-status", "Reading the passages…");
  try {
    const reply = await api("POST", "ask", { question, top_k: Number($("top-k").value) || 5 });
    renderAnswers(reply);
    const n = reply.answers.length;
    status("ask-status", n ? `${n} answer${n > 1 ? "s" : ""}, best first.` : "No answer found.");
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

async function openDocument(docId, start, end) {
  returnTo = $("view-docs").hidden ? "ask" : "docs";
  show("doc");
  $("doc-heading").textContent = docId;
  $("doc-meta").textContent = "Loading…";
  $("doc-text-view").replaceChildren();
  try {
    const doc = await api("GET", `documents/${encodeURIComponent(docId)}`);
    $("doc-heading").textContent = doc.title || doc.doc_id;
    $("doc-meta").textContent = `${doc.doc_id} · ${doc.text.length.toLocaleString()} characters`;
    if (start === undefined) {
      $("doc-text-view").textContent = doc.text;
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
        el("td", {}, el("button", { type: "button", class: "link", onclick: () => openDocument(d.doc_id) }, d.doc_id)),
        el("td", {}, d.title),
        el("td", {}, String(d.passages)),
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

async function addDocument(event) {
  event.preventDefault();
  const file = $("doc-file").files[0];
  const text = file ? await file.text() : $("doc-text").value;
  const docId = $("doc-id").value.trim() || (file ? file.name.replace(/\.txt$/i, "") : "");
  if (!docId || !text.trim()) { status("docs-status", "Give an id and some text (or a .txt file).", true); return; }
  const body = { doc_id: docId, text };
  if ($("doc-title").value.trim()) body.title = $("doc-title").value.trim();
  $("add-button").disabled = true;
  status("docs-status", `Adding ${docId}…`);
  try {
    const reply = await api("POST", "documents", body);
    $("add-form").reset();
    await loadDocuments(true);
    status("docs-status", `Added ${reply.doc_id}: ${reply.passages} passages.` + (reply.warning ? ` ${reply.warning}` : ""));
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
  $("back").addEventListener("click", () => show(returnTo));
  $("question").focus();
});
