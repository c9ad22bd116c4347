// The NLP page: a playground (sentiment, classification with the user's labels,
// similarity) and batch jobs (upload, progress, statistics, results, CSV, cancel).
import { api, can, requireSignIn } from "./api.js";
import { byId, clearFieldErrors, clearMessage, el, fieldErrors, formatDate, showError, showNotice, table, withLoading } from "./ui.js";
import { submitJob, downloadResults } from "./nlp-jobs.js";

const MAX_TEXTS = 64;
const POLL_MS = 1000;
const RESULTS_PAGE = 20;
const FINISHED = new Set(["ready", "error", "cancelled"]);
const STATUS_TEXT = {
  accepted: "Stored; waiting for the queue",
  queued: "Queued",
  running: "Running",
  ready: "Done",
  error: "Failed",
  cancelled: "Cancelled",
};

const percent = (value) => `${Math.round(value * 100)} %`;
// A model's confidence: one decimal, so 0.998 does not read as a certain 100 %.
const confidence = (value) => `${(value * 100).toFixed(1)} %`;

// --- the playground ---------------------------------------------------------------------

/** The non-blank lines of a textarea, with the line number each came from. */
function linesOf(textarea) {
  const lines = [];
  textarea.value.split("\n").forEach((line, index) => {
    if (line.trim()) lines.push({ text: line.trim(), line: index + 1 });
  });
  return lines;
}

/** An ApiError's field errors with `texts.3` told as the line the fourth text came from. */
function byLine(error, lines, rename = {}) {
  const fields = {};
  for (const [field, messages] of Object.entries(error.fieldErrors || {})) {
    const [name, index, ...rest] = field.split(".");
    let target = rename[name] ?? name;
    let prefix = "";
    if (name === "texts" && index !== undefined) prefix = `line ${lines[Number(index)]?.line ?? Number(index) + 1}: `;
    if (name === "labels" && index !== undefined) prefix = `label ${Number(index) + 1}: `;
    if (name === "pairs" && rest.length) target = rest[0];
    (fields[target] ||= []).push(...messages.map((message) => prefix + message));
  }
  return { ...error, fieldErrors: fields, title: error.title, detail: error.detail, status: error.status };
}

/** Run a playground form: validate, call, show the answer or the problem next to the fields. */
function playground(formId, run) {
  const form = byId(formId);
  const output = byId(`${formId}-results`);
  const problem = byId(`${formId}-error`);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearFieldErrors(form);
    clearMessage(problem);
    try {
      const shown = await withLoading(form, run(form));
      output.replaceChildren(shown);
    } catch (error) {
      output.replaceChildren();
      const unplaced = fieldErrors(form, error.mapped ?? error);
      if (!error.fieldErrors || Object.keys(unplaced).length || !Object.keys(error.fieldErrors).length) {
        showError(problem, error);
      }
    }
  });
}

function invalid(field, message) {
  const error = new Error(message);
  error.title = "Invalid input";
  error.detail = message;
  error.fieldErrors = { [field]: [message] };
  return error;
}

function textsFrom(form) {
  const lines = linesOf(form.elements.texts);
  if (!lines.length) throw invalid("texts", "Write at least one text.");
  if (lines.length > MAX_TEXTS) throw invalid("texts", `At most ${MAX_TEXTS} texts at once (one per line).`);
  return lines;
}

async function call(path, body, lines, rename) {
  try {
    return await api.send("POST", path, body);
  } catch (error) {
    if (error.status === 422) error.mapped = byLine(error, lines, rename);
    throw error;
  }
}

function sentimentBadge(label) {
  return el("span", { class: `badge sentiment-${label}` }, label);
}

playground("nlp-sentiment-form", async (form) => {
  const lines = textsFrom(form);
  const answer = await call("/nlp/sentiment", { texts: lines.map((line) => line.text), truncate: true }, lines);
  return table(
    [
      { label: "Text", value: (row) => row.text },
      { label: "Sentiment", value: (row) => sentimentBadge(row.result.label) },
      { label: "Confidence", value: (row) => confidence(row.result.score) },
    ],
    lines.map((line, index) => ({ text: line.text, result: answer.results[index] })),
    { caption: "Sentiment of each text" },
  );
});

playground("nlp-classify-form", async (form) => {
  const lines = textsFrom(form);
  const names = form.elements.labels.value
    .split(",")
    .map((name) => name.trim())
    .filter(Boolean);
  if (names.length < 2 || names.length > 20) throw invalid("labels", "Give 2 to 20 labels, separated by commas.");
  const answer = await call(
    "/nlp/classify",
    { texts: lines.map((line) => line.text), labels: names.map((name) => ({ name })), truncate: true },
    lines,
  );
  return table(
    [
      { label: "Text", value: (row) => row.text },
      { label: "Best label", value: (row) => el("strong", {}, row.result.label) },
      {
        label: "All labels",
        value: (row) => row.result.labels.map((label) => `${label.name} ${confidence(label.score)}`).join(", "),
      },
    ],
    lines.map((line, index) => ({ text: line.text, result: answer.results[index] })),
    { caption: "Labels of each text, best first" },
  );
});

playground("nlp-similarity-form", async (form) => {
  const a = form.elements.a.value.trim();
  const b = form.elements.b.value.trim();
  if (!a) throw invalid("a", "Write the first text.");
  if (!b) throw invalid("b", "Write the second text.");
  const answer = await call("/nlp/similarity", { pairs: [{ a, b }], truncate: true }, []);
  const score = answer.results[0].score;
  const meaning = score >= 0.7 ? "close in meaning" : score >= 0.4 ? "related" : "unrelated";
  return el(
    "p",
    { class: "similarity" },
    "Similarity ",
    el("strong", { class: "similarity-score" }, score.toFixed(2)),
    ` (from -1 to 1): ${meaning}.`,
  );
});

// --- batch jobs ---------------------------------------------------------------------------

const jobForm = byId("nlp-job-form");
const jobFormError = byId("nlp-job-form-error");
const taskSelect = byId("nlp-job-task");
const labelsField = byId("nlp-job-labels-field");
const panel = byId("nlp-job");
const heading = byId("nlp-job-heading");
const statusLine = byId("nlp-job-status");
const progress = byId("nlp-job-progress");
const progressText = byId("nlp-job-progress-text");
const cancelButton = byId("nlp-job-cancel");
const downloadButton = byId("nlp-job-download");
const jobError = byId("nlp-job-error");
const statistics = byId("nlp-job-statistics");
const resultsBox = byId("nlp-job-results");
const pager = byId("nlp-results-pager");
const previousButton = byId("nlp-results-previous");
const nextButton = byId("nlp-results-next");
const pageLabel = byId("nlp-results-page");
const jobsBox = byId("nlp-jobs");
const jobsError = byId("nlp-jobs-error");

// The job shown, and how its results are paged: the cursors of the pages seen so far.
const shown = { id: null, job: null, timer: 0, cursors: [null], page: 0, next: null };

taskSelect.addEventListener("change", () => {
  labelsField.hidden = taskSelect.value !== "classify";
});

jobForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearFieldErrors(jobForm);
  clearMessage(jobFormError);
  const file = jobForm.elements.file.files[0];
  if (!file) {
    fieldErrors(jobForm, invalid("file", "Choose a CSV or JSON file."));
    return;
  }
  const fields = {
    task: taskSelect.value,
    column: jobForm.elements.column.value.trim() || "text",
    truncate: jobForm.elements.truncate.checked ? "true" : "false",
  };
  if (fields.task === "classify") {
    const names = jobForm.elements.labels.value
      .split(",")
      .map((name) => name.trim())
      .filter(Boolean);
    if (names.length < 2 || names.length > 20) {
      fieldErrors(jobForm, invalid("labels", "Give 2 to 20 labels, separated by commas."));
      return;
    }
    fields.labels = JSON.stringify(names.map((name) => ({ name })));
  }
  try {
    const job = await withLoading(jobForm, submitJob(file, fields));
    jobForm.reset();
    labelsField.hidden = true;
    openJob(job.id, job);
    loadJobs();
  } catch (error) {
    const unplaced = fieldErrors(jobForm, error);
    if (!Object.keys(error.fieldErrors || {}).length || Object.keys(unplaced).length) showError(jobFormError, error);
  }
});

function stopPolling() {
  window.clearTimeout(shown.timer);
  shown.timer = 0;
}

function openJob(id, job = null) {
  stopPolling();
  Object.assign(shown, { id, job: null, cursors: [null], page: 0, next: null });
  const params = new URLSearchParams(window.location.search);
  params.set("job", id);
  window.history.replaceState(null, "", `?${params}`);
  panel.hidden = false;
  heading.textContent = "Job";
  statistics.replaceChildren();
  resultsBox.replaceChildren();
  pager.hidden = true;
  clearMessage(jobError);
  if (job) renderJob(job);
  refreshJob();
  panel.scrollIntoView({ block: "start" });
}

function renderJob(job) {
  const finished = FINISHED.has(job.status);
  const { total, done, failed } = job.progress;
  shown.job = job;
  panel.dataset.status = job.status;
  heading.textContent = `Job ${job.id.slice(0, 8)}: ${job.task}${job.labels ? ` (${job.labels.join(", ")})` : ""}`;
  statusLine.replaceChildren(
    el("span", { class: `badge job-${job.status}` }, STATUS_TEXT[job.status] ?? job.status),
    ` · submitted ${formatDate(job.created_at)}`,
    job.error ? ` · ${job.error}` : "",
  );
  progress.max = Math.max(total, 1);
  progress.value = done;
  // Floored: 100 % only once every row is done.
  const share = total ? Math.floor((done / total) * 100) / 100 : 0;
  progressText.textContent = `${done} of ${total} rows${failed ? ` (${failed} failed)` : ""} · ${percent(share)}`;
  progress.setAttribute("aria-valuetext", progressText.textContent);
  cancelButton.hidden = finished;
  downloadButton.hidden = !finished || job.status === "error";
  if (job.statistics) renderStatistics(job.statistics);
}

function renderStatistics(stats) {
  statistics.replaceChildren(
    el("h4", {}, "Statistics"),
    el("p", {}, `${stats.scored} rows scored, ${stats.failed} failed.`),
    table(
      [
        { label: "Label", value: (row) => row.label },
        { label: "Rows", value: (row) => String(row.count) },
        { label: "Share", value: (row) => percent(row.share) },
      ],
      stats.labels,
      { caption: "Rows per label", empty: "No row was scored." },
    ),
  );
}

async function refreshJob({ keepMessage = false } = {}) {
  const id = shown.id;
  try {
    const job = await api.get(`/nlp/jobs/${encodeURIComponent(id)}`);
    if (id !== shown.id) return;
    // A passing problem (a 429 while polling) is over once the job reads again.
    if (!keepMessage && jobError.querySelector(".alert-error")) clearMessage(jobError);
    renderJob(job);
    if (FINISHED.has(job.status)) {
      loadResults(0);
      loadJobs();
    } else {
      shown.timer = window.setTimeout(refreshJob, POLL_MS);
    }
  } catch (error) {
    if (id !== shown.id) return;
    showError(jobError, error);
    // A passing problem (a 429, a 503) is worth another try; a missing job is not.
    if (error.status !== 404 && error.status !== 403) shown.timer = window.setTimeout(refreshJob, POLL_MS * 3);
  }
}

async function loadResults(page) {
  const id = shown.id;
  try {
    const answer = await withLoading(
      resultsBox,
      api.get(`/nlp/jobs/${encodeURIComponent(id)}/results`, { limit: RESULTS_PAGE, cursor: shown.cursors[page] }),
    );
    if (id !== shown.id) return;
    shown.page = page;
    shown.next = answer.next_cursor;
    if (answer.next_cursor) shown.cursors[page + 1] = answer.next_cursor;
    resultsBox.replaceChildren(
      el("h4", {}, "Results"),
      table(
        [
          { label: "Line", value: (row) => String(row.line) },
          { label: "Text", value: (row) => row.text },
          { label: "Label", value: (row) => row.result?.label ?? "" },
          { label: "Score", value: (row) => (row.result ? confidence(row.result.score) : "") },
          { label: "Error", value: (row) => row.error ?? "" },
        ],
        answer.items,
        { caption: "Scored rows", empty: "No row scored." },
      ),
    );
    pager.hidden = page === 0 && !answer.next_cursor;
    previousButton.disabled = page === 0;
    nextButton.disabled = !answer.next_cursor;
    pageLabel.textContent = `Page ${page + 1}`;
  } catch (error) {
    showError(jobError, error);
  }
}

previousButton.addEventListener("click", () => loadResults(Math.max(shown.page - 1, 0)));
nextButton.addEventListener("click", () => loadResults(shown.page + 1));

cancelButton.addEventListener("click", async () => {
  const id = shown.id;
  stopPolling();
  clearMessage(jobError);
  try {
    const job = await withLoading(cancelButton, api.send("DELETE", `/nlp/jobs/${encodeURIComponent(id)}`));
    if (id !== shown.id) return;
    renderJob(job);
    showNotice(jobError, "The job was cancelled; the rows scored so far stay below.");
  } catch (error) {
    showError(jobError, error);
  }
  refreshJob({ keepMessage: true });
});

downloadButton.addEventListener("click", async () => {
  clearMessage(jobError);
  try {
    await withLoading(downloadButton, downloadResults(shown.id));
  } catch (error) {
    showError(jobError, error);
  }
});

// --- the user's jobs ----------------------------------------------------------------------

async function loadJobs() {
  try {
    const answer = await withLoading(jobsBox, api.get("/nlp/jobs", { limit: 10 }));
    clearMessage(jobsError);
    jobsBox.replaceChildren(
      table(
        [
          { label: "Submitted", value: (job) => formatDate(job.created_at) },
          { label: "Task", value: (job) => job.task },
          { label: "Status", value: (job) => STATUS_TEXT[job.status] ?? job.status },
          { label: "Rows", value: (job) => `${job.progress.done} of ${job.progress.total}` },
          {
            label: "Job",
            value: (job) => {
              const open = el("button", { type: "button", class: "link-button" }, `Open ${job.id.slice(0, 8)}`);
              open.addEventListener("click", () => openJob(job.id));
              return open;
            },
          },
        ],
        answer.items,
        { caption: "Your recent jobs", empty: "No job yet." },
      ),
    );
  } catch (error) {
    showError(jobsError, error);
  }
}

byId("nlp-jobs-refresh").addEventListener("click", loadJobs);

// --- start ----------------------------------------------------------------------------------

async function start() {
  await requireSignIn();
  if (!can("nlp:read")) {
    for (const section of document.querySelectorAll("[data-needs='nlp:read']")) section.hidden = true;
    showNotice(byId("nlp-forbidden"), "Your role may not use the NLP service (it needs nlp:read).", "warning");
    return;
  }
  const job = new URLSearchParams(window.location.search).get("job");
  if (job) openJob(job);
  loadJobs();
}

start();
