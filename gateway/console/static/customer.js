// One customer: details, tags, attributes, the notes timeline with each note's sentiment,
// editing (If-Match: a stale edit is a 412 the user can resolve), deleting and restoring.
import { api, can, requireSignIn } from "./api.js";
import { customerBody, customerForm } from "./customer-form.js";
import {
  badge,
  byId,
  clearFieldErrors,
  clearMessage,
  el,
  fieldErrors,
  formatDate,
  poll,
  replace,
  showError,
  showNotice,
  withLoading,
} from "./ui.js";

const customerId = decodeURIComponent(window.location.pathname.split("/").pop());
const path = `/customers/${encodeURIComponent(customerId)}`;
const message = byId("customer-message");
const details = byId("details-body");
const editPanel = byId("edit-panel");
const editButton = byId("edit-customer");
const deleteButton = byId("delete-customer");
const restoreButton = byId("restore-customer");
const timeline = byId("timeline");
const moreNotes = byId("more-notes");

let customer = null;
let etag = null;
let notesCursor = null;

async function fetchCustomer() {
  const response = await api.raw("GET", path);
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

function drawDetails() {
  byId("customer-name").textContent = customer.name;
  document.title = `${customer.name} · Clientele`;
  const row = (label, value) => [el("dt", {}, label), el("dd", {}, value ?? "—")];
  const attributes = Object.entries(customer.attributes || {});
  replace(
    details,
    el(
      "dl",
      { class: "details" },
      row("Email", customer.email),
      row("Status", badge(customer.status, customer.status)),
      row("Phone", customer.phone),
      row("Company", customer.company),
      row("Country", customer.country),
      row("City", customer.city),
      row("Segment", customer.segment),
      row(
        "Tags",
        customer.tags.length
          ? el("ul", { class: "tags" }, customer.tags.map((tag) => el("li", {}, badge(tag))))
          : "none",
      ),
      row("Created", formatDate(customer.created_at)),
      row("Updated", formatDate(customer.updated_at)),
      row("Version", String(customer.version)),
    ),
    el("h3", {}, "Attributes"),
    attributes.length
      ? el(
          "dl",
          { class: "details", id: "attributes" },
          attributes.map(([key, value]) =>
            row(key, typeof value === "string" ? value : JSON.stringify(value)),
          ),
        )
      : el("p", { class: "muted" }, "No attributes."),
  );
}

function sentimentOf(note) {
  if (!note.sentiment) return el("span", { class: "muted", "data-sentiment": "pending" }, "Sentiment: scoring…");
  const { label, score } = note.sentiment;
  return el(
    "span",
    { "data-sentiment": label },
    "Sentiment: ",
    badge(`${label} (${Math.round(score * 100)} %)`, label),
  );
}

function noteItem(note) {
  return el(
    "li",
    { id: `note-${note.id}` },
    el("p", { class: "note-body" }, note.body),
    el(
      "p",
      { class: "meta" },
      el("span", {}, note.author),
      el("time", { datetime: note.created_at }, formatDate(note.created_at)),
      sentimentOf(note),
    ),
  );
}

async function loadNotes(cursor) {
  const page = await withLoading(timeline, api.get(`${path}/notes`, { cursor, limit: 20 }));
  if (!cursor) timeline.replaceChildren();
  for (const note of page.items) timeline.append(noteItem(note));
  if (!timeline.children.length) timeline.append(el("li", { class: "muted", id: "no-notes" }, "No notes yet."));
  notesCursor = page.next_cursor;
  moreNotes.hidden = !notesCursor;
}

// The NLP service scores a note moments after it is added: ask again until it has.
async function awaitSentiment(note) {
  const scored = await poll(
    async () => {
      const page = await api.get(`${path}/notes`, { limit: 50 });
      const found = page.items.find((item) => item.id === note.id);
      return found && found.sentiment ? found : null;
    },
    { intervalMs: 1000, timeoutMs: 120_000 },
  );
  const item = document.getElementById(`note-${note.id}`);
  if (scored && item) item.replaceWith(noteItem(scored));
}

function setUpNotes() {
  const form = byId("note-form");
  const noteMessage = byId("note-message");
  form.hidden = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(noteMessage);
    clearFieldErrors(form);
    const body = form.elements.body.value;
    if (!body.trim()) {
      fieldErrors(form, { fieldErrors: { body: ["Write something first"] } });
      return;
    }
    try {
      const note = await withLoading(form, api.send("POST", `${path}/notes`, { body }));
      form.reset();
      document.getElementById("no-notes")?.remove();
      timeline.prepend(noteItem(note));
      awaitSentiment(note).catch((error) => showError(noteMessage, error));
    } catch (error) {
      const unplaced = fieldErrors(form, error);
      if (!error.fieldErrors || Object.keys(unplaced).length || !Object.keys(error.fieldErrors).length) {
        showError(noteMessage, error);
      }
    }
  });
}

function showConflict(editMessage, form) {
  const reload = el("button", { type: "button", id: "reload-customer" }, "Reload the latest version");
  replace(
    editMessage,
    el(
      "div",
      { class: "alert alert-warning", role: "alert" },
      el("strong", {}, "This customer was changed after you opened the form "),
      "(someone else saved it, or you did in another tab). Your changes were not saved: ",
      "reload the latest version, then make your changes again.",
      el("div", { class: "actions" }, reload),
    ),
  );
  editMessage.hidden = false;
  reload.addEventListener("click", async () => {
    try {
      ({ body: customer, etag } = await withLoading(reload, fetchCustomer()));
      drawDetails();
      openEditor();
      showNotice(byId("edit-message"), "Reloaded: this is the latest version.", "info");
    } catch (error) {
      showError(editMessage, error);
    }
  });
  form.querySelector("button[type=submit]").focus();
}

function openEditor() {
  const editMessage = byId("edit-message");
  clearMessage(editMessage);
  const form = customerForm("edit", customer, "Save changes");
  replace(byId("edit-form-slot"), form);
  editPanel.hidden = false;
  editButton.setAttribute("aria-expanded", "true");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(editMessage);
    clearFieldErrors(form);
    try {
      const changes = customerBody(form, customer);
      if (!Object.keys(changes).length) {
        showNotice(editMessage, "Nothing changed.", "info");
        return;
      }
      const response = await withLoading(
        form,
        api.raw("PATCH", path, { body: changes, headers: { "If-Match": etag } }),
      );
      customer = await response.json();
      etag = response.headers.get("ETag");
      drawDetails();
      editPanel.hidden = true;
      editButton.setAttribute("aria-expanded", "false");
      showNotice(message, "Saved.", "success");
    } catch (error) {
      if (error.status === 412) {
        showConflict(editMessage, form);
        return;
      }
      const unplaced = fieldErrors(form, error);
      if (!error.fieldErrors || Object.keys(unplaced).length || !Object.keys(error.fieldErrors).length) {
        showError(editMessage, error);
      }
    }
  });
  form.elements.name.focus();
}

function showDeleted() {
  byId("customer-name").textContent = customer ? `${customer.name} (deleted)` : "Deleted customer";
  editButton.hidden = true;
  deleteButton.hidden = true;
  editPanel.hidden = true;
  byId("notes").hidden = true;
  restoreButton.hidden = !can("customers:delete");
}

async function start() {
  await requireSignIn();
  try {
    ({ body: customer, etag } = await withLoading(details, fetchCustomer()));
  } catch (error) {
    showError(message, error.status === 404 ? { title: "No such customer", detail: "It does not exist, or it was deleted." } : error);
    if (error.status === 404) showDeleted();
    return;
  }
  drawDetails();
  if (can("customers:write")) {
    editButton.hidden = false;
    editButton.addEventListener("click", () => {
      if (editPanel.hidden) openEditor();
      else {
        editPanel.hidden = true;
        editButton.setAttribute("aria-expanded", "false");
      }
    });
    setUpNotes();
  }
  if (can("customers:delete")) deleteButton.hidden = false;
  await loadNotes(null);
}

deleteButton.addEventListener("click", async () => {
  if (!window.confirm(`Delete ${customer.name}? An admin can restore it.`)) return;
  try {
    await withLoading(deleteButton, api.raw("DELETE", path, { headers: { "If-Match": etag } }));
    showDeleted();
    showNotice(message, "Deleted. You can restore it from this page.", "success");
  } catch (error) {
    showError(message, error.status === 412 ? { title: "Changed by someone else", detail: "Reload the page and try again." } : error);
  }
});

restoreButton.addEventListener("click", async () => {
  try {
    const response = await withLoading(restoreButton, api.raw("POST", `${path}/restore`));
    customer = await response.json();
    etag = response.headers.get("ETag");
    window.location.reload();
  } catch (error) {
    showError(message, error);
  }
});

moreNotes.addEventListener("click", () => loadNotes(notesCursor).catch((error) => showError(message, error)));

start().catch((error) => showError(message, error));
