// The analytics page: the summary, signups and churns over time, live customers by
// status, country, segment and tag, and note sentiment per segment.
import { api, requireSignIn } from "./api.js";
import { el, showError, withLoading } from "./ui.js";
import { COLOURS, chartFigure, load } from "./analytics-charts.js";

const summaryBox = document.getElementById("analytics-summary");
const intervalGroup = document.getElementById("analytics-interval");
const trendBox = document.getElementById("analytics-trend");
const breakdownBox = document.getElementById("analytics-breakdowns");
const sentimentBox = document.getElementById("analytics-sentiment");

const BREAKDOWNS = [
  ["status", "Customers by status"],
  ["country", "Customers by country"],
  ["segment", "Customers by segment"],
  ["tag", "Customers by tag"],
];
const BREAKDOWN_LIMIT = 12;
const NONE = { status: "(none)", country: "No country", segment: "No segment", tag: "No tag" };
const INTERVALS = {
  day: { days: 30, noun: "day", range: "the last 30 days" },
  week: { weeks: 12, noun: "week", range: "the last 12 weeks" },
  month: { months: 12, noun: "month", range: "the last 12 months" },
};

// --- dates (UTC calendar days, as the API counts them) ---------------------------------

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function range(interval) {
  const today = new Date();
  const to = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate()));
  let from;
  if (interval === "day") {
    from = new Date(to.getTime() - (INTERVALS.day.days - 1) * 86_400_000);
  } else if (interval === "week") {
    // From the Monday eleven weeks before this week's: twelve whole weeks but the last.
    const monday = new Date(to.getTime() - ((to.getUTCDay() + 6) % 7) * 86_400_000);
    from = new Date(monday.getTime() - (INTERVALS.week.weeks - 1) * 7 * 86_400_000);
  } else {
    from = new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - (INTERVALS.month.months - 1), 1));
  }
  return { from: isoDay(from), to: isoDay(to) };
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
const monthFormat = new Intl.DateTimeFormat(undefined, { month: "short", year: "numeric", timeZone: "UTC" });

function bucketLabel(bucket, interval) {
  const start = new Date(`${bucket.start}T00:00:00Z`);
  if (interval === "month") return monthFormat.format(start);
  if (interval === "week") return `Week of ${dayFormat.format(start)}`;
  return dayFormat.format(start);
}

function plural(count, noun) {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

// --- summary -------------------------------------------------------------------------

function card(label, value) {
  return el("div", { class: "stat" }, el("dt", {}, label), el("dd", {}, String(value)));
}

async function loadSummary() {
  try {
    const summary = await withLoading(summaryBox, api.get("/analytics/summary"));
    summaryBox.replaceChildren(
      el(
        "dl",
        { class: "stats" },
        card("Live customers", summary.live_customers),
        card("Leads", summary.by_status.lead),
        card("Active", summary.by_status.active),
        card("Churned", summary.by_status.churned),
        card("Signups, last 30 days", summary.last_30_days.signups),
        card("Churns, last 30 days", summary.last_30_days.churns),
        card("Notes, last 30 days", summary.last_30_days.notes),
      ),
    );
  } catch (error) {
    showError(summaryBox, error);
  }
}

// --- signups and churns over time ----------------------------------------------------

const trend = chartFigure(trendBox, "Signups and churns");
let trendSerial = 0;

async function loadTrend(interval) {
  const serial = ++trendSerial;
  const { from, to } = range(interval);
  await load(trend, async () => {
    const query = (metric) => api.get("/analytics/timeseries", { metric, interval, from, to });
    const [signups, churns] = await Promise.all([query("signups"), query("churns")]);
    if (serial !== trendSerial) return;
    const labels = signups.buckets.map((bucket) => bucketLabel(bucket, interval));
    const busiest = signups.buckets.reduce((best, bucket) => (bucket.count > best.count ? bucket : best), {
      count: -1,
    });
    const noun = INTERVALS[interval].noun;
    const when = (bucket) => (interval === "day" ? `on ${bucket.start}` : `in the ${noun} from ${bucket.start}`);
    const summary =
      `${plural(signups.total, "signup")} and ${plural(churns.total, "churn")} per ${noun}` +
      ` over ${INTERVALS[interval].range} (${signups.from} to ${signups.to}).` +
      (busiest.count > 0 ? ` Most signups: ${busiest.count}, ${when(busiest)}.` : "");
    trend.figure.dataset.interval = interval;
    trend.show(
      {
        type: "bar",
        data: {
          labels,
          datasets: [
            { label: "Signups", data: signups.buckets.map((b) => b.count), backgroundColor: COLOURS.blue },
            { label: "Churns", data: churns.buckets.map((b) => b.count), backgroundColor: COLOURS.red },
          ],
        },
        options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } },
      },
      summary,
      {
        head: interval === "day" ? ["Day", "Signups", "Churns"] : ["From", "To", "Signups", "Churns"],
        rows: signups.buckets.map((bucket, index) => [
          ...(interval === "day" ? [bucket.start] : [bucket.start, bucket.end]),
          bucket.count,
          churns.buckets[index]?.count ?? 0,
        ]),
      },
    );
  });
}

intervalGroup.addEventListener("change", (event) => {
  if (event.target.name === "interval") loadTrend(event.target.value);
});

// --- breakdowns ----------------------------------------------------------------------

async function loadBreakdown(figure, dimension) {
  await load(figure, async () => {
    const answer = await api.get("/analytics/breakdown", { dimension, limit: BREAKDOWN_LIMIT });
    const names = answer.buckets.map((bucket) => bucket.value ?? NONE[dimension]);
    const counts = answer.buckets.map((bucket) => bucket.count);
    const listed = answer.buckets
      .slice(0, 5)
      .map((bucket, index) => `${names[index]} ${bucket.count}`)
      .join(", ");
    const summary = answer.buckets.length
      ? `${plural(answer.total, "live customer")}; ${listed}${answer.buckets.length > 5 ? ", …" : ""}.`
      : "No live customers yet.";
    figure.show(
      {
        type: "bar",
        data: {
          labels: names,
          datasets: [{ label: "Customers", data: counts, backgroundColor: COLOURS.blue }],
        },
        options: {
          indexAxis: "y",
          plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        },
      },
      summary,
      { head: [dimension[0].toUpperCase() + dimension.slice(1), "Customers"], rows: names.map((name, i) => [name, counts[i]]) },
    );
  });
}

// --- note sentiment per segment --------------------------------------------------------

async function loadSentiment(figure) {
  await load(figure, async () => {
    const answer = await api.get("/analytics/sentiment", { by: "segment", limit: 20 });
    const groups = answer.groups;
    const names = groups.map((group) => group.value ?? "No segment");
    const mean = (value) => (value === null ? "–" : value.toFixed(2));
    const overall = answer.overall;
    const summary = overall.notes
      ? `${plural(overall.notes, "scored note")}: ${overall.labels.positive.count} positive, ` +
        `${overall.labels.neutral.count} neutral, ${overall.labels.negative.count} negative; mean ${mean(overall.mean)} ` +
        `(from -1, all negative, to 1, all positive).`
      : "No scored notes yet.";
    const series = (label, colour, name) => ({
      label: name,
      data: groups.map((group) => group.labels[label].count),
      backgroundColor: colour,
    });
    figure.show(
      {
        type: "bar",
        data: {
          labels: names,
          datasets: [
            series("positive", COLOURS.green, "Positive"),
            series("neutral", COLOURS.grey, "Neutral"),
            series("negative", COLOURS.red, "Negative"),
          ],
        },
        options: {
          indexAxis: "y",
          scales: { x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } }, y: { stacked: true } },
        },
      },
      summary,
      {
        head: ["Segment", "Notes", "Positive", "Neutral", "Negative", "Mean"],
        rows: groups.map((group, index) => [
          names[index],
          group.notes,
          group.labels.positive.count,
          group.labels.neutral.count,
          group.labels.negative.count,
          mean(group.mean),
        ]),
      },
    );
  });
}

// --- start ---------------------------------------------------------------------------

async function start() {
  await requireSignIn();
  if (typeof window.Chart !== "function") {
    showError(summaryBox, new Error("The chart library did not load; reload the page."));
    return;
  }
  window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  window.Chart.defaults.color = "#333";
  const interval = intervalGroup.querySelector("input[name=interval]:checked")?.value ?? "day";
  const figures = BREAKDOWNS.map(([dimension, title]) => [dimension, chartFigure(breakdownBox, title, { height: "short" })]);
  const sentiment = chartFigure(sentimentBox, "Note sentiment per segment", { height: "short" });
  await Promise.all([
    loadSummary(),
    loadTrend(interval),
    ...figures.map(([dimension, figure]) => loadBreakdown(figure, dimension)),
    loadSentiment(sentiment),
  ]);
}

start();
