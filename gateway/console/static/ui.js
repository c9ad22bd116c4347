// Safe DOM building and the console's shared ways of showing errors, progress and tables.
// Data only ever reaches the page through textContent and attributes: never innerHTML.

/**
 * el("a", {href: "/x", class: "link"}, "text", child, ...) -> Element.
 * Attributes are set with setAttribute (``on*`` refused: no inline handlers), the
 * ``dataset`` key takes an object, ``hidden``/``disabled``/``checked``/``selected``
 * take booleans, and children are Nodes or text (null/false skipped).
 */
export function el(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (/^on/i.test(name)) throw new Error(`inline handler ${name} refused: use addEventListener`);
    if (name === "dataset") {
      Object.assign(element.dataset, value);
    } else if (["hidden", "disabled", "checked", "selected", "required", "multiple"].includes(name)) {
      element[name] = Boolean(value);
    } else if (name === "value") {
      element.value = String(value);
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, ...children);
  return element;
}

/** Append children (Nodes, strings, numbers, arrays of them); null and false are skipped. */
export function append(parent, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false || child === "") continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Empty ``element`` and fill it with ``children``. */
export function replace(element, ...children) {
  element.replaceChildren();
  return append(element, ...children);
}

/** The element with this id (throws if the page lacks it: a template and script out of step). */
export function byId(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

/** A readable sentence for any error: an ApiError's problem title and detail, or its message. */
export function describeError(error) {
  if (!error) return "Something went wrong.";
  if (error.status === 403) {
    return `Not allowed: ${error.detail || "your role may not do this."}`;
  }
  if (error.title) return error.detail ? `${error.title}: ${error.detail}` : error.title;
  return String(error.message || error);
}

/** Show ``error`` readably in ``container`` (an alert region); returns the message element. */
export function showError(container, error) {
  const message = el(
    "div",
    { class: "alert alert-error", role: "alert" },
    el("strong", {}, describeError(error)),
  );
  if (error && error.problem && error.problem.instance) {
    append(message, " ", el("span", { class: "muted" }, `(${error.problem.instance})`));
  }
  replace(container, message);
  container.hidden = false;
  return message;
}

/** Show a success or information message in ``container``. */
export function showNotice(container, text, kind = "info") {
  replace(container, el("div", { class: `alert alert-${kind}`, role: "status" }, text));
  container.hidden = false;
}

/** Remove any message from ``container``. */
export function clearMessage(container) {
  container.replaceChildren();
  container.hidden = true;
}

/**
 * Put each of an ApiError's field errors next to its field in ``form`` (by the field's
 * ``name``, or ``data-field`` for nested names), marking it aria-invalid. Errors for no
 * field of the form are returned (to show with showError). Clears earlier ones first.
 */
export function fieldErrors(form, error) {
  clearFieldErrors(form);
  const unplaced = {};
  for (const [field, messages] of Object.entries((error && error.fieldErrors) || {})) {
    const input = findField(form, field);
    if (!input) {
      unplaced[field] = messages;
      continue;
    }
    const id = `${input.id || input.name}-error`;
    const note = el("p", { class: "field-error", id }, messages.join("; "));
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    (input.closest(".field") || input.parentElement).append(note);
  }
  const first = form.querySelector("[aria-invalid='true']");
  if (first) first.focus();
  return unplaced;
}

function findField(form, field) {
  const candidates = [field, field.split(".")[0], field.replace(/^body\./, "")];
  for (const name of candidates) {
    const found =
      form.querySelector(`[data-field="${CSS.escape(name)}"]`) ||
      form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (found) return found;
  }
  return null;
}

/** Remove the field errors fieldErrors() placed in ``form``. */
export function clearFieldErrors(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) {
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
  }
}

/**
 * Mark ``element`` busy while ``promise`` runs (aria-busy, a spinner class; buttons and
 * forms disabled), and resolve to the promise's result.
 */
export async function withLoading(element, promise) {
  element.setAttribute("aria-busy", "true");
  element.classList.add("loading");
  const controls =
    element.tagName === "FORM" ? [...element.elements] : element.tagName === "BUTTON" ? [element] : [];
  const wereDisabled = controls.map((control) => control.disabled);
  for (const control of controls) control.disabled = true;
  try {
    return await promise;
  } finally {
    element.removeAttribute("aria-busy");
    element.classList.remove("loading");
    controls.forEach((control, index) => {
      control.disabled = wereDisabled[index];
    });
  }
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" });

/** "30 Nov 2026, 23:42" for an ISO timestamp ("" for none); dates alone with {dateOnly: true}. */
export function formatDate(value, options = {}) {
  if (!value) return "";
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return (options.dateOnly ? dateOnly : dateTime).format(date);
}

/** A number with the user's grouping ("1,234"). */
export function formatNumber(value) {
  return new Intl.NumberFormat().format(Number(value || 0));
}

/**
 * A table: columns = [{label, value: row => text|Node, class?}], rows = [...].
 * With ``caption`` (for screen readers), and ``empty`` text when there are no rows.
 */
export function table(columns, rows, { caption, empty = "Nothing to show." } = {}) {
  const head = el("thead", {}, el("tr", {}, columns.map((column) => el("th", { scope: "col" }, column.label))));
  const body = el(
    "tbody",
    {},
    rows.length
      ? rows.map((row) =>
          el(
            "tr",
            {},
            columns.map((column) => el("td", { class: column.class, "data-label": column.label }, column.value(row))),
          ),
        )
      : el("tr", {}, el("td", { colspan: columns.length, class: "empty" }, empty)),
  );
  return el(
    "div",
    { class: "table-wrap" },
    el("table", {}, caption ? el("caption", { class: "visually-hidden" }, caption) : null, head, body),
  );
}

/** A labelled form field: el("div.field", label, control, hint?). ``control`` must have an id. */
export function field(label, control, hint) {
  const hintId = hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return el(
    "div",
    { class: "field" },
    el("label", { for: control.id }, label),
    control,
    hint ? el("p", { class: "hint", id: hintId }, hint) : null,
  );
}

/** A small "label: value" badge, e.g. a status. */
export function badge(text, kind = "") {
  return el("span", { class: `badge ${kind ? `badge-${kind}` : ""}`.trim() }, text);
}

/** The form's fields as an object (strings; empty ones left out unless ``keepEmpty``). */
export function formValues(form, { keepEmpty = false } = {}) {
  const values = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (typeof value !== "string") continue;
    const trimmed = value.trim();
    if (trimmed || keepEmpty) values[name] = trimmed;
  }
  return values;
}

/** Poll ``check`` every ``intervalMs`` until it returns something truthy (or ``timeoutMs`` passes). */
export async function poll(check, { intervalMs = 1000, timeoutMs = 60_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result || Date.now() > deadline) return result;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
