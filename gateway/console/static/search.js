// The search page: search as you type, suggestions, facets as filters, highlighted
// hits, and semantic or hybrid search when the NLP service answers.
import { api, can, requireSignIn } from "./api.js";
import { clearMessage, el, showError, withLoading } from "./ui.js";
import { closeSpellings, highlighted } from "./search-highlight.js";

const SUGGEST_DELAY_MS = 150;
const SEARCH_DELAY_MS = 300;
const PAGE_SIZE = 20;
const FACETS = [
  ["status", "Status"],
  ["country", "Country"],
  ["segment", "Segment"],
  ["tag", "Tags"],
];
const MODES = { text: "Words", semantic: "Meaning", hybrid: "Both" };

const form = document.getElementById("search-form");
const input = document.getElementById("search-q");
const listbox = document.getElementById("search-suggestions");
const sortSelect = document.getElementById("search-sort");
const modeGroup = document.getElementById("search-mode");
const modeNote = document.getElementById("search-mode-note");
const errorBox = document.getElementById("search-error");
const facetsBox = document.getElementById("search-facets");
const activeBox = document.getElementById("search-active-filters");
const summary = document.getElementById("search-summary");
const typos = document.getElementById("search-typos");
const results = document.getElementById("search-results");
const more = document.getElementById("search-more");
const resultsRegion = document.getElementById("search-results-region");

const state = {
  q: "",
  mode: "text",
  sort: "",
  filters: { status: null, country: null, segment: null, tag: [] },
  cursor: null,
};
// Answers that arrive after a newer request was sent are dropped.
let searchSerial = 0;
let suggestSerial = 0;
let suggestTimer = 0;
let searchTimer = 0;
let suggestions = [];
let active = -1;

// --- the query and the URL ---------------------------------------------------------

function readLocation() {
  const params = new URLSearchParams(window.location.search);
  state.q = params.get("q") ?? "";
  state.mode = params.get("mode") in MODES ? params.get("mode") : "text";
  state.sort = params.get("sort") ?? "";
  for (const [name] of FACETS) {
    state.filters[name] = name === "tag" ? params.getAll("tag") : params.get(name);
  }
}

function queryParams(cursor) {
  const params = new URLSearchParams();
  if (state.q.trim()) params.set("q", state.q.trim());
  if (state.mode !== "text") params.set("mode", state.mode);
  if (state.sort) params.set("sort", state.sort);
  for (const [name] of FACETS) {
    const value = state.filters[name];
    if (Array.isArray(value)) value.forEach((item) => params.append(name, item));
    else if (value) params.set(name, value);
  }
  if (cursor) params.set("cursor", cursor);
  return params;
}

function writeLocation() {
  const params = queryParams(null);
  const query = params.toString();
  window.history.replaceState(null, "", query ? `?${query}` : window.location.pathname);
}

// --- suggestions: an ARIA 1.2 combobox with a listbox popup ---------------------------

function closeSuggestions() {
  suggestions = [];
  active = -1;
  listbox.replaceChildren();
  listbox.hidden = true;
  input.setAttribute("aria-expanded", "false");
  input.removeAttribute("aria-activedescendant");
}

function showSuggestions(items) {
  suggestions = items;
  active = -1;
  listbox.replaceChildren(
    ...items.map((item, index) =>
      el(
        "li",
        { id: `search-suggestion-${index}`, role: "option", "aria-selected": "false", class: "suggestion" },
        el("span", { class: "suggestion-text" }, item.text),
        el("span", { class: "suggestion-field" }, item.field === "company" ? "company" : "name"),
      ),
    ),
  );
  const open = items.length > 0;
  listbox.hidden = !open;
  input.setAttribute("aria-expanded", String(open));
  input.removeAttribute("aria-activedescendant");
}

function moveActive(step) {
  if (!suggestions.length) return;
  const options = listbox.querySelectorAll("[role=option]");
  if (active >= 0) options[active].setAttribute("aria-selected", "false");
  active = (active + step + suggestions.length + 1) % (suggestions.length + 1);
  if (active === suggestions.length) active = -1;
  if (active >= 0) {
    options[active].setAttribute("aria-selected", "true");
    options[active].scrollIntoView({ block: "nearest" });
    input.setAttribute("aria-activedescendant", options[active].id);
  } else {
    input.removeAttribute("aria-activedescendant");
  }
}

function choose(index) {
  const item = suggestions[index];
  if (!item) return;
  input.value = item.text;
  closeSuggestions();
  state.q = item.text;
  runSearch();
}

async function fetchSuggestions(text) {
  const serial = ++suggestSerial;
  try {
    const answer = await api.get("/search/suggest", { q: text, limit: 8 });
    if (serial === suggestSerial && input.value.trim() === text && document.activeElement === input) {
      showSuggestions(answer.items);
    }
  } catch (error) {
    // A failed suggestion is not worth an alert: the search itself reports problems.
    if (serial === suggestSerial) closeSuggestions();
  }
}

input.addEventListener("input", () => {
  const text = input.value.trim();
  window.clearTimeout(suggestTimer);
  window.clearTimeout(searchTimer);
  if (!text) {
    closeSuggestions();
  } else if (text.length <= 100) {
    suggestTimer = window.setTimeout(() => fetchSuggestions(text), SUGGEST_DELAY_MS);
  }
  searchTimer = window.setTimeout(() => {
    state.q = input.value;
    runSearch();
  }, SEARCH_DELAY_MS);
});

input.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown") {
    event.preventDefault();
    if (listbox.hidden && input.value.trim()) fetchSuggestions(input.value.trim());
    else moveActive(1);
  } else if (event.key === "ArrowUp") {
    event.preventDefault();
    moveActive(-1);
  } else if (event.key === "Enter" && active >= 0) {
    event.preventDefault();
    choose(active);
  } else if (event.key === "Escape") {
    if (!listbox.hidden) {
      event.preventDefault();
      closeSuggestions();
    }
  }
});

input.addEventListener("blur", () => window.setTimeout(closeSuggestions, 100));

// mousedown, not click: the input keeps its focus until the choice is made.
listbox.addEventListener("mousedown", (event) => {
  const option = event.target.closest("[role=option]");
  if (!option) return;
  event.preventDefault();
  choose(Number(option.id.replace("search-suggestion-", "")));
});

// --- searching -----------------------------------------------------------------------

function hitItem(hit) {
  const place = [hit.city, hit.country].filter(Boolean).join(", ");
  const link = el("a", { href: `/customers/${encodeURIComponent(hit.id)}` });
  link.append(highlighted(hit.highlights?.name, hit.name));
  const details = el("p", { class: "hit-details" });
  if (hit.company) {
    const company = el("span", { class: "hit-company" });
    company.append(highlighted(hit.highlights?.company, hit.company));
    details.append(company, " · ");
  }
  details.append(el("span", { class: "hit-email" }, hit.email));
  if (place) details.append(" · ", el("span", {}, place));
  const badges = el(
    "p",
    { class: "hit-badges" },
    el("span", { class: `badge badge-${hit.status}` }, hit.status),
    ...(hit.segment ? [el("span", { class: "badge" }, hit.segment)] : []),
    ...hit.tags.map((tag) => el("span", { class: "badge badge-tag" }, tag)),
  );
  const item = el("li", { class: "hit" }, el("h3", { class: "hit-name" }, link), details, badges);
  if (hit.highlights?.notes) {
    const note = el("p", { class: "hit-note" }, el("span", { class: "visually-hidden" }, "From a note: "));
    note.append("…", highlighted(hit.highlights.notes), "…");
    item.append(note);
  }
  if (hit.score !== null && state.mode !== "text") {
    item.append(el("p", { class: "hit-score" }, `Score ${hit.score.toFixed(3)}`));
  }
  return item;
}

function filterButton(name, facet) {
  const current = state.filters[name];
  const pressed = Array.isArray(current) ? current.includes(facet.value) : current === facet.value;
  const button = el(
    "button",
    { type: "button", class: "facet", "aria-pressed": String(pressed), "data-facet": name, "data-value": facet.value },
    el("span", { class: "facet-value" }, facet.value),
    " ",
    el("span", { class: "facet-count" }, `(${facet.count})`),
  );
  button.addEventListener("click", () => toggleFilter(name, facet.value));
  return el("li", {}, button);
}

function renderFacets(facets) {
  const groups = FACETS.filter(([name]) => facets[name].length).map(([name, label]) =>
    el(
      "div",
      { class: "facet-group", role: "group", "aria-labelledby": `facet-${name}` },
      el("h3", { id: `facet-${name}` }, label),
      el("ul", { class: "facet-list" }, ...facets[name].map((facet) => filterButton(name, facet))),
    ),
  );
  facetsBox.replaceChildren(...(groups.length ? groups : [el("p", {}, "No filters for these results.")]));
}

function renderActiveFilters() {
  const chips = [];
  for (const [name, label] of FACETS) {
    const value = state.filters[name];
    for (const item of Array.isArray(value) ? value : value ? [value] : []) {
      const chip = el(
        "button",
        { type: "button", class: "chip", "aria-label": `Remove filter ${label}: ${item}` },
        `${label}: ${item} ×`,
      );
      chip.addEventListener("click", () => toggleFilter(name, item));
      chips.push(el("li", {}, chip));
    }
  }
  activeBox.replaceChildren(...(chips.length ? [el("ul", { class: "chips" }, ...chips)] : []));
}

function toggleFilter(name, value) {
  const current = state.filters[name];
  if (Array.isArray(current)) {
    state.filters[name] = current.includes(value)
      ? current.filter((item) => item !== value)
      : [...current, value];
  } else {
    state.filters[name] = current === value ? null : value;
  }
  runSearch();
}

function renderTypos(hits) {
  const { typed, found } = state.mode === "semantic" ? { typed: [] } : closeSpellings(state.q, hits);
  if (!typed.length) {
    typos.hidden = true;
    typos.replaceChildren();
    return;
  }
  typos.replaceChildren(
    `No exact match for ${typed.map((word) => `“${word}”`).join(", ")}: showing close spellings `,
    ...found.flatMap((word, index) => [index ? ", " : "", el("mark", {}, word)]),
    ".",
  );
  typos.hidden = false;
}

function describe(total) {
  const filtered = FACETS.some(([name]) => {
    const value = state.filters[name];
    return Array.isArray(value) ? value.length : value;
  });
  const what = total === 1 ? "1 customer" : `${total} customers`;
  if (state.q.trim()) return `${what} found for “${state.q.trim()}”${filtered ? " with these filters" : ""}.`;
  return filtered ? `${what} with these filters.` : `${what}, newest first.`;
}

async function runSearch({ append = false } = {}) {
  window.clearTimeout(searchTimer);
  const serial = ++searchSerial;
  const params = queryParams(append ? state.cursor : null);
  params.set("limit", String(PAGE_SIZE));
  if (!append) writeLocation();
  renderActiveFilters();
  clearMessage(errorBox);
  try {
    const page = await withLoading(append ? more : resultsRegion, api.get(`/search?${params}`));
    if (serial !== searchSerial) return;
    state.cursor = page.next_cursor;
    const items = page.items.map(hitItem);
    if (append) {
      results.append(...items);
    } else {
      results.replaceChildren(...items);
      summary.textContent = describe(page.total);
      renderFacets(page.facets);
      renderTypos(page.items);
    }
    more.hidden = !page.next_cursor;
  } catch (error) {
    if (serial !== searchSerial) return;
    if (error.status === 503 && state.mode !== "text") {
      // Semantic search needs the NLP service: say so, and search by words instead.
      disableModes(error);
      runSearch();
      return;
    }
    showError(errorBox, error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  closeSuggestions();
  state.q = input.value;
  runSearch();
});

sortSelect.addEventListener("change", () => {
  state.sort = sortSelect.value;
  runSearch();
});

more.addEventListener("click", () => runSearch({ append: true }));

// --- semantic and hybrid modes: offered only while the NLP service answers ------------

function disableModes(error) {
  modeGroup.hidden = true;
  state.mode = "text";
  modeGroup.querySelector("input[value=text]").checked = true;
  modeNote.textContent = `Search by meaning is unavailable: ${error.detail || error.title || "the NLP service did not answer"}. Searching by words.`;
  modeNote.hidden = false;
}

async function offerModes() {
  if (!(await can("nlp:read"))) return;
  try {
    // One embedded word tells whether the NLP service is there (its answer is cached).
    await api.get("/search", { q: "customer", mode: "semantic", limit: 1 });
  } catch (error) {
    disableModes(error);
    return;
  }
  modeGroup.hidden = false;
  modeNote.hidden = true;
}

modeGroup.addEventListener("change", (event) => {
  if (event.target.name !== "mode") return;
  state.mode = event.target.value;
  runSearch();
});

// --- start ---------------------------------------------------------------------------

async function start() {
  await requireSignIn();
  readLocation();
  input.value = state.q;
  sortSelect.value = state.sort;
  const checked = modeGroup.querySelector(`input[value="${state.mode}"]`);
  if (checked) checked.checked = true;
  await Promise.all([runSearch(), offerModes()]);
}

start();
