// Import: read a CSV in the browser, show its first rows, map its columns to customer
// fields, then send it as an import job and follow it to the end (failed rows listed).
import { api, can, requireSignIn } from "./api.js";
import { parseCsv } from "./csv.js";
import {
  byId,
  clearMessage,
  el,
  field,
  formatNumber,
  poll,
  replace,
  showError,
  showNotice,
  table,
  withLoading,
} from "./ui.js";

const FIELDS = ["name", "email", "phone", "company", "country", "city", "segment", "status", "tags"];
const REQUIRED = ["name", "email"];
const PREVIEW_ROWS = 5;
const ATTRIBUTE = "attribute";

const message = byId("import-message");
const mappingSection = byId("mapping-section");
const mappingForm = byId("mapping-form");
const progressSection = byId("progress-section");
const progress = byId("import-progress");
const progressText = byId("progress-text");
const moreFailed = byId("more-failed");

let file = null; // {name, text, header}
let failedCursor = null;
let currentJob = null;

function guess(column) {
  const name = column.trim().toLowerCase().replace(/[\s_-]+/g, "");
  const aliases = { fullname: "name", mail: "email", emailaddress: "email", telephone: "phone", tag: "tags" };
  if (FIELDS.includes(name)) return name;
  return aliases[name] || "";
}

function drawMapping(header, rows) {
  replace(
    byId("preview"),
    el("h3", {}, `First rows of ${file.name}`),
    table(
      header.map((column, index) => ({ label: column || `(column ${index + 1})`, value: (row) => row[index] ?? "" })),
      rows,
      { caption: `The first ${rows.length} rows of the file`, empty: "The file has no data rows." },
    ),
  );
  const selects = header.map((column, index) => {
    const select = el(
      "select",
      { id: `map-${index}`, name: `map-${index}`, "data-column": column },
      el("option", { value: "" }, "(ignore this column)"),
      FIELDS.map((name) => el("option", { value: name, selected: guess(column) === name }, name)),
      el("option", { value: ATTRIBUTE }, `attribute "${column}"`),
    );
    return field(`Column "${column}"`, select);
  });
  replace(byId("mapping"), selects);
  mappingSection.hidden = false;
}

function chosenMapping() {
  const mapping = {};
  for (const select of mappingForm.querySelectorAll("select[data-column]")) {
    const column = select.dataset.column;
    if (!select.value) continue;
    mapping[column] = select.value === ATTRIBUTE ? `attributes.${column.trim()}` : select.value;
  }
  return mapping;
}

byId("csv-file").addEventListener("change", async (event) => {
  clearMessage(message);
  mappingSection.hidden = true;
  progressSection.hidden = true;
  const chosen = event.target.files[0];
  if (!chosen) return;
  try {
    const text = await chosen.text();
    const rows = parseCsv(text, PREVIEW_ROWS + 1);
    if (!rows.length) throw new Error("The file is empty.");
    const [header, ...firstRows] = rows;
    file = { name: chosen.name, text, header };
    drawMapping(header, firstRows);
  } catch (error) {
    showError(message, { title: "This file cannot be read", detail: String(error.message || error) });
  }
});

function drawJob(job) {
  const total = Math.max(job.total, 1);
  progress.max = total;
  progress.value = job.processed;
  const percent = Math.round((job.processed / total) * 100);
  progressText.textContent = `${job.status}: ${formatNumber(job.processed)} of ${formatNumber(job.total)} rows (${percent} %)`;
  progressText.dataset.percent = String(percent);
}

function drawSummary(job) {
  const counts = el(
    "dl",
    { class: "details", id: "import-counts" },
    el("dt", {}, "Created"),
    el("dd", { "data-count": "created" }, formatNumber(job.created)),
    el("dt", {}, "Already there"),
    el("dd", { "data-count": "existing" }, formatNumber(job.existing)),
    el("dt", {}, "Failed"),
    el("dd", { "data-count": "failed" }, formatNumber(job.failed)),
  );
  const outcome =
    job.status === "failed"
      ? el("div", { class: "alert alert-error", role: "alert" }, `The import failed: ${job.error || "unknown reason"}`)
      : el("div", { class: "alert alert-success", role: "status" }, "Import finished.");
  replace(byId("import-summary"), outcome, counts);
}

function reasons(row) {
  return el(
    "ul",
    {},
    row.errors.map((error) =>
      el("li", {}, error.column ? `${error.column} (${error.field}): ${error.detail}` : `${error.field}: ${error.detail}`),
    ),
  );
}

async function loadFailedRows(cursor) {
  const page = await api.get(`/customers/imports/${currentJob.id}/rows`, { outcome: "failed", cursor, limit: 50 });
  const rowsTable = table(
    [
      { label: "Line", value: (row) => String(row.line) },
      { label: "Reason", value: reasons },
    ],
    page.items,
    { caption: "Rows that failed", empty: "No row failed." },
  );
  if (!cursor) replace(byId("failed-rows"), el("h3", {}, "Rows that failed"), rowsTable);
  else {
    byId("failed-rows").querySelector("tbody").append(...rowsTable.querySelectorAll("tbody tr"));
  }
  failedCursor = page.next_cursor;
  moreFailed.hidden = !failedCursor;
}

mappingForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(message);
  const mapping = chosenMapping();
  const mapped = new Set(Object.values(mapping));
  const missing = REQUIRED.filter((name) => !mapped.has(name));
  if (missing.length) {
    showError(message, { title: "Map the required fields", detail: `No column is mapped to ${missing.join(" and ")}.` });
    return;
  }
  try {
    currentJob = await withLoading(
      mappingForm,
      api.send("POST", "/customers/imports", { filename: file.name, mapping, content: file.text }),
    );
    progressSection.hidden = false;
    replace(byId("import-summary"));
    replace(byId("failed-rows"));
    drawJob(currentJob);
    const finished = await withLoading(
      progressSection,
      poll(
        async () => {
          currentJob = await api.get(`/customers/imports/${currentJob.id}`);
          drawJob(currentJob);
          return ["succeeded", "failed"].includes(currentJob.status) ? currentJob : null;
        },
        { intervalMs: 500, timeoutMs: 600_000 },
      ),
    );
    if (!finished) {
      showNotice(message, "The import is still running; come back to this page later.", "warning");
      return;
    }
    drawSummary(finished);
    if (finished.failed) await loadFailedRows(null);
  } catch (error) {
    showError(message, error);
  }
});

moreFailed.addEventListener("click", () => loadFailedRows(failedCursor).catch((error) => showError(message, error)));

async function start() {
  await requireSignIn();
  if (!can("customers:write")) {
    showError(message, { status: 403, title: "Not allowed", detail: "Your role may not create customers." });
    byId("csv-file").disabled = true;
  }
}

start().catch((error) => showError(message, error));
