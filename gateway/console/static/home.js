// Home: the figures a user checks first, each linking to the page that explains it.
import { api, can, requireSignIn } from "./api.js";
import { byId, el, formatDate, formatNumber, replace, showError, withLoading } from "./ui.js";

const cards = byId("cards");
// A job still to finish; the jobs list is the caller's newest first, up to this many.
const OPEN_JOB_STATUSES = new Set(["accepted", "queued", "running"]);
const JOBS_LOOKED_AT = 100;

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

// Monday of this week (UTC), the first day of "this week".
function startOfWeek(today) {
  const monday = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
  monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
  return monday;
}

function card({ id, title, href, figure, rows = [], note }) {
  return el(
    "a",
    { class: "card", href, id },
    el("h2", { id: `${id}-title` }, title),
    figure !== undefined ? el("p", { class: "figure", "data-figure": "" }, formatNumber(figure)) : null,
    rows.length
      ? el(
          "dl",
          {},
          rows.map(([label, value, key]) => [
            el("dt", {}, label),
            el("dd", { "data-key": key }, formatNumber(value)),
          ]),
        )
      : null,
    note ? el("p", { class: "hint" }, note) : null,
  );
}

async function draw() {
  await requireSignIn();
  const drawn = [];
  if (can("analytics:read")) {
    const today = new Date();
    const [summary, week] = await Promise.all([
      api.get("/analytics/summary"),
      api.get("/analytics/timeseries", {
        metric: "signups",
        interval: "week",
        from: isoDay(startOfWeek(today)),
        to: isoDay(today),
      }),
    ]);
    const status = summary.by_status;
    drawn.push(
      card({
        id: "card-customers",
        title: "Customers by status",
        href: "/customers",
        figure: summary.live_customers,
        rows: [
          ["Leads", status.lead, "lead"],
          ["Active", status.active, "active"],
          ["Churned", status.churned, "churned"],
        ],
      }),
      card({
        id: "card-signups",
        title: "Signups this week",
        href: "/analytics",
        figure: week.total,
        note: `Since ${formatDate(week.from, { dateOnly: true })}`,
      }),
      card({
        id: "card-churn",
        title: "Churn, last 30 days",
        href: "/customers?status=churned",
        figure: summary.last_30_days.churns,
        note: `Churned customers in all: ${formatNumber(status.churned)}`,
      }),
      card({
        id: "card-notes",
        title: "Notes, last 30 days",
        href: "/analytics",
        figure: summary.last_30_days.notes,
      }),
    );
    byId("as-of").textContent = `Figures as of ${formatDate(summary.as_of)}.`;
  } else if (can("customers:read")) {
    drawn.push(card({ id: "card-customers", title: "Customers", href: "/customers", note: "Browse customers" }));
  }
  if (can("nlp:read")) {
    const jobs = (await api.get("/nlp/jobs", { limit: JOBS_LOOKED_AT })).items;
    const open = jobs.filter((job) => OPEN_JOB_STATUSES.has(job.status));
    drawn.push(
      card({
        id: "card-nlp-jobs",
        title: "Open NLP jobs",
        href: "/nlp",
        figure: open.length,
        rows: [
          ["Running", open.filter((job) => job.status === "running").length, "running"],
          ["Waiting", open.filter((job) => job.status !== "running").length, "waiting"],
        ],
        note: jobs.length === JOBS_LOOKED_AT ? `Among your latest ${JOBS_LOOKED_AT} jobs` : "Your batch jobs",
      }),
    );
  }
  if (!drawn.length) drawn.push(el("p", {}, "Your role has no figures to show."));
  replace(cards, drawn);
}

withLoading(cards, draw()).catch((error) => showError(cards, error));
