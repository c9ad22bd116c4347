// Customers: the filtered, sorted list (cursor pages), creating one, and the CSV export.
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
  replace,
  showError,
  showNotice,
  table,
  withLoading,
} from "./ui.js";

const PAGE_SIZE = 25;
const FILTERS = ["status", "country", "segment", "tag", "created_after", "created_before", "sort"];

const filters = byId("filters");
const list = byId("customer-list");
const listMessage = byId("list-message");
const previousButton = byId("previous-page");
const nextButton = byId("next-page");

// The cursors of the pages before this one: the API only knows "next", so "previous"
// goes back through the cursors this page has followed.
let cursors = [];
let current = null;
let next = null;

function filterValues() {
  const data = new FormData(filters);
  const values = {};
  for (const name of FILTERS) {
    const value = String(data.get(name) || "").trim();
    if (value) values[name] = value;
  }
  return values;
}

// The list API's query for the filters: dates as UTC midnights, tags repeated.
function apiParams(values) {
  const params = { ...values };
  if (params.country) params.country = params.country.toUpperCase();
  if (params.tag) params.tag = params.tag.split(",").map((tag) => tag.trim()).filter(Boolean);
  if (params.created_after) params.created_after = `${params.created_after}T00:00:00Z`;
  if (params.created_before) params.created_before = `${params.created_before}T00:00:00Z`;
  return params;
}

function fillFiltersFromAddress() {
  const query = new URLSearchParams(window.location.search);
  for (const name of FILTERS) {
    const control = filters.elements[name];
    if (control && query.has(name)) control.value = query.get(name);
  }
}

function rememberFiltersInAddress(values) {
  const query = new URLSearchParams(values);
  if (values.sort === "-created_at") query.delete("sort");
  const search = query.toString();
  window.history.replaceState(null, "", search ? `?${search}` : window.location.pathname);
}

function drawList(page) {
  replace(
    list,
    table(
      [
        { label: "Name", value: (c) => el("a", { href: `/customers/${encodeURIComponent(c.id)}` }, c.name) },
        { label: "Email", value: (c) => c.email },
        { label: "Status", value: (c) => badge(c.status, c.status) },
        { label: "Company", value: (c) => c.company || "" },
        { label: "Country", value: (c) => c.country || "" },
        { label: "Segment", value: (c) => c.segment || "" },
        { label: "Tags", value: (c) => c.tags.join(", ") },
        { label: "Created", value: (c) => formatDate(c.created_at) },
      ],
      page.items,
      { caption: "Customers matching the filters", empty: "No customer matches these filters." },
    ),
  );
}

async function load(cursor) {
  clearMessage(listMessage);
  const params = { ...apiParams(filterValues()), limit: PAGE_SIZE, cursor };
  try {
    const page = await withLoading(list, api.get("/customers", params));
    current = cursor;
    next = page.next_cursor;
    drawList(page);
  } catch (error) {
    showError(listMessage, error);
  }
  previousButton.disabled = cursors.length === 0;
  nextButton.disabled = !next;
}

filters.addEventListener("submit", (event) => {
  event.preventDefault();
  rememberFiltersInAddress(filterValues());
  cursors = [];
  load(null);
});

nextButton.addEventListener("click", () => {
  if (!next) return;
  cursors.push(current);
  load(next);
});

previousButton.addEventListener("click", () => {
  if (!cursors.length) return;
  load(cursors.pop());
});

function setUpCreate() {
  const panel = byId("create-panel");
  const toggle = byId("new-customer");
  const message = byId("create-message");
  let form = customerForm("create", {}, "Create customer");
  // One key per customer being created: a retried submit creates it once.
  let idempotencyKey = crypto.randomUUID();
  byId("create-form-slot").append(form);
  toggle.hidden = false;
  toggle.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    toggle.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) form.elements.name.focus();
  });
  form.addEventListener("submit", async function submit(event) {
    event.preventDefault();
    clearMessage(message);
    clearFieldErrors(form);
    try {
      const body = customerBody(form);
      const created = await withLoading(
        form,
        api.send("POST", "/customers", body, { "Idempotency-Key": idempotencyKey }),
      );
      idempotencyKey = crypto.randomUUID();
      const fresh = customerForm("create", {}, "Create customer");
      fresh.addEventListener("submit", submit);
      form.replaceWith(fresh);
      form = fresh;
      replace(
        message,
        el(
          "div",
          { class: "alert alert-success", role: "status" },
          "Created ",
          el("a", { href: `/customers/${encodeURIComponent(created.id)}` }, created.name),
          ".",
        ),
      );
      message.hidden = false;
      cursors = [];
      load(null);
    } catch (error) {
      const unplaced = fieldErrors(form, error);
      if (Object.keys(unplaced).length || !error.fieldErrors || !Object.keys(error.fieldErrors).length) {
        showError(message, error);
      }
    }
  });
}

function filenameOf(response) {
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/i.exec(disposition);
  return match ? match[1] : "customers.csv";
}

byId("download-csv").addEventListener("click", async (event) => {
  const button = event.currentTarget;
  clearMessage(listMessage);
  try {
    const response = await withLoading(
      button,
      api.raw("GET", "/customers/export", {
        params: apiParams(filterValues()),
        headers: { Accept: "text/csv" },
      }),
    );
    const blob = await response.blob();
    const link = el("a", { href: URL.createObjectURL(blob), download: filenameOf(response), hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    showNotice(listMessage, "The CSV of the filtered list is downloading.", "success");
  } catch (error) {
    showError(listMessage, error);
  }
});

async function start() {
  await requireSignIn();
  fillFiltersFromAddress();
  if (can("customers:write")) setUpCreate();
  await load(null);
}

start().catch((error) => showError(listMessage, error));
