// The customer form, for creating (customers page) and editing (customer page).
import { el, field } from "./ui.js";

export const STATUSES = ["lead", "active", "churned"];

const TEXT_FIELDS = [
  ["name", "Name", { required: true, autocomplete: "off", maxlength: 200 }],
  ["email", "Email", { type: "email", required: true, autocomplete: "off", maxlength: 254 }],
  ["phone", "Phone", { type: "tel", autocomplete: "off" }],
  ["company", "Company", { maxlength: 200 }],
  ["country", "Country", { maxlength: 2, hint: "Two-letter code, e.g. FR" }],
  ["city", "City", { maxlength: 120 }],
  ["segment", "Segment", { maxlength: 64 }],
];

/** A form for a customer (``prefix`` keeps ids unique on a page); filled from ``customer``. */
export function customerForm(prefix, customer = {}, submitLabel = "Save") {
  const controls = TEXT_FIELDS.map(([name, label, { hint, ...attrs }]) => {
    const input = el("input", { id: `${prefix}-${name}`, name, ...attrs, value: customer[name] ?? "" });
    return field(attrs.required ? `${label} (required)` : label, input, hint);
  });
  const status = el(
    "select",
    { id: `${prefix}-status`, name: "status" },
    STATUSES.map((value) => el("option", { value, selected: (customer.status || "lead") === value }, value)),
  );
  const tags = el("input", {
    id: `${prefix}-tags`,
    name: "tags",
    value: (customer.tags || []).join(", "),
    autocomplete: "off",
  });
  const attributes = el("textarea", {
    id: `${prefix}-attributes`,
    name: "attributes",
    spellcheck: "false",
  });
  attributes.value = Object.keys(customer.attributes || {}).length
    ? JSON.stringify(customer.attributes, null, 2)
    : "";
  return el(
    "form",
    { id: `${prefix}-form`, novalidate: true },
    el(
      "div",
      { class: "form-grid" },
      controls,
      field("Status", status),
      field("Tags", tags, "Separated by commas"),
    ),
    field("Attributes", attributes, "A JSON object, e.g. {\"plan\": \"pro\"}"),
    el("div", { class: "actions" }, el("button", { type: "submit" }, submitLabel)),
  );
}

/**
 * The form's values as an API body. For an edit (``original`` given) only what changed,
 * with cleared optional fields sent as null. Throws {fieldErrors} for local mistakes.
 */
export function customerBody(form, original = null) {
  const data = new FormData(form);
  const body = {};
  const problems = {};
  for (const [name] of TEXT_FIELDS) {
    const value = String(data.get(name) || "").trim();
    body[name] = value === "" ? null : name === "country" ? value.toUpperCase() : value;
  }
  body.status = String(data.get("status") || "lead");
  body.tags = String(data.get("tags") || "")
    .split(",")
    .map((tag) => tag.trim())
    .filter(Boolean);
  const attributes = String(data.get("attributes") || "").trim();
  if (attributes) {
    try {
      body.attributes = JSON.parse(attributes);
      if (typeof body.attributes !== "object" || Array.isArray(body.attributes) || body.attributes === null) {
        problems.attributes = ["must be a JSON object"];
      }
    } catch (error) {
      problems.attributes = [`is not valid JSON (${error.message})`];
    }
  } else {
    body.attributes = {};
  }
  if (Object.keys(problems).length) {
    throw Object.assign(new Error("Please correct the highlighted fields"), {
      title: "Please correct the highlighted fields",
      fieldErrors: problems,
    });
  }
  if (!original) {
    for (const name of Object.keys(body)) if (body[name] === null) delete body[name];
    return body;
  }
  const changed = {};
  for (const [name, value] of Object.entries(body)) {
    if (JSON.stringify(value) !== JSON.stringify(original[name] ?? null)) changed[name] = value;
  }
  return changed;
}
