// A chart in a <figure>: the canvas (Chart.js, `window.Chart` from the vendor UMD file)
// described by an aria-label summary, a table with the same figures behind a toggle,
// and a loading / error state.
import { el, showError } from "./ui.js";

// Colours with at least 3:1 contrast on white, told apart without hue by the table.
export const COLOURS = {
  blue: "#1f5fbf",
  red: "#b3261e",
  green: "#1b7f3b",
  grey: "#5f6368",
  orange: "#b35c00",
  purple: "#6b3fa0",
};

const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
let serial = 0;

/** A chart figure appended to `container`: {figure, show(config, summary, table), loading(), failed(error)}. */
export function chartFigure(container, title, { height = "tall" } = {}) {
  const id = `chart-${++serial}`;
  const canvas = el("canvas", { id: `${id}-canvas`, role: "img", "aria-label": `${title}: loading` });
  const box = el("div", { class: `chart-box chart-${height}` }, canvas);
  const status = el("p", { class: "chart-status", role: "status" });
  const error = el("div", { class: "chart-error" });
  const tableBox = el("div", { id: `${id}-table`, class: "chart-table", hidden: true });
  const toggle = el(
    "button",
    { type: "button", class: "chart-toggle", "aria-expanded": "false", "aria-controls": `${id}-table`, disabled: true },
    "Figures as a table",
  );
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    tableBox.hidden = !open;
  });
  const figure = el(
    "figure",
    { class: "chart", "data-chart": title, "aria-labelledby": `${id}-caption` },
    el("figcaption", { id: `${id}-caption` }, title),
    status,
    error,
    box,
    toggle,
    tableBox,
  );
  container.append(figure);
  let chart = null;

  return {
    figure,
    loading() {
      figure.setAttribute("aria-busy", "true");
      figure.dataset.state = "loading";
      status.textContent = "Loading…";
      error.replaceChildren();
    },
    failed(problem) {
      figure.removeAttribute("aria-busy");
      figure.dataset.state = "error";
      status.textContent = "";
      showError(error, problem);
      canvas.setAttribute("aria-label", `${title}: could not be loaded`);
    },
    /** Draw `config` (Chart.js), say `summary` to assistive technology, fill the table. */
    show(config, summary, { head, rows }) {
      figure.removeAttribute("aria-busy");
      figure.dataset.state = "ready";
      figure.dataset.empty = String(!rows.length);
      status.textContent = rows.length ? "" : "Nothing to show yet.";
      error.replaceChildren();
      canvas.setAttribute("aria-label", `${title}. ${summary}`);
      canvas.textContent = summary;
      config.options = {
        responsive: true,
        maintainAspectRatio: false,
        animation: reducedMotion ? false : { duration: 300 },
        ...config.options,
      };
      if (chart) chart.destroy();
      chart = new window.Chart(canvas, config);
      tableBox.replaceChildren(
        el(
          "table",
          {},
          el("caption", { class: "visually-hidden" }, title),
          el("thead", {}, el("tr", {}, ...head.map((cell) => el("th", { scope: "col" }, cell)))),
          el(
            "tbody",
            {},
            ...rows.map(([first, ...rest]) =>
              el("tr", {}, el("th", { scope: "row" }, String(first)), ...rest.map((cell) => el("td", {}, String(cell)))),
            ),
          ),
        ),
      );
      toggle.disabled = false;
    },
  };
}

/** Run `load` for a figure with its loading and error states. */
export async function load(figure, loader) {
  figure.loading();
  try {
    await loader();
  } catch (error) {
    figure.failed(error);
  }
}
