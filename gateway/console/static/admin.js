// Admin: users (create, change role, disable) and API keys (create, shown once; revoke).
import { api, can, requireSignIn } from "./api.js";
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

const ROLES = ["viewer", "agent", "admin"];
const message = byId("admin-message");
const usersMessage = byId("users-message");
const keysMessage = byId("keys-message");

const itemsOf = (answer) => (Array.isArray(answer) ? answer : answer.items || []);

async function updateUser(user, change, control) {
  clearMessage(usersMessage);
  try {
    const updated = await withLoading(control, api.send("PATCH", `/auth/users/${user.id}`, change));
    showNotice(usersMessage, `${updated.username} updated.`, "success");
  } catch (error) {
    showError(usersMessage, error);
  }
  await loadUsers();
}

function roleControl(user) {
  const select = el(
    "select",
    { id: `role-${user.id}`, "aria-label": `Role of ${user.username}` },
    ROLES.map((role) => el("option", { value: role, selected: role === user.role }, role)),
  );
  select.addEventListener("change", () => updateUser(user, { role: select.value }, select));
  return select;
}

function disableControl(user) {
  const button = el(
    "button",
    { type: "button", class: user.disabled ? "" : "button-quiet" },
    user.disabled ? "Enable" : "Disable",
    el("span", { class: "visually-hidden" }, ` ${user.username}`),
  );
  button.addEventListener("click", () => updateUser(user, { disabled: !user.disabled }, button));
  return button;
}

async function loadUsers() {
  const users = itemsOf(await withLoading(byId("users"), api.get("/auth/users")));
  replace(
    byId("users"),
    table(
      [
        { label: "Username", value: (u) => u.username },
        { label: "Role", value: roleControl },
        { label: "State", value: (u) => (u.disabled ? badge("disabled", "deleted") : badge("enabled", "active")) },
        { label: "Created", value: (u) => formatDate(u.created_at) },
        { label: "Actions", value: disableControl },
      ],
      users,
      { caption: "Users" },
    ),
  );
}

function keyState(key) {
  if (key.revoked_at) return badge(`revoked ${formatDate(key.revoked_at)}`, "deleted");
  if (key.expires_at && new Date(key.expires_at) < new Date()) return badge("expired", "deleted");
  return badge("active", "active");
}

function revokeControl(key) {
  if (key.revoked_at) return "";
  const button = el(
    "button",
    { type: "button", class: "button-danger" },
    "Revoke",
    el("span", { class: "visually-hidden" }, ` ${key.name}`),
  );
  button.addEventListener("click", async () => {
    if (!window.confirm(`Revoke the key "${key.name}"? Callers using it stop at once.`)) return;
    clearMessage(keysMessage);
    try {
      await withLoading(button, api.send("DELETE", `/auth/api-keys/${key.id}`));
      showNotice(keysMessage, `Key "${key.name}" revoked.`, "success");
    } catch (error) {
      showError(keysMessage, error);
    }
    await loadKeys();
  });
  return button;
}

async function loadKeys() {
  const keys = itemsOf(await withLoading(byId("keys"), api.get("/auth/api-keys")));
  replace(
    byId("keys"),
    table(
      [
        { label: "Name", value: (k) => k.name },
        { label: "Prefix", value: (k) => el("code", {}, `clt_${k.prefix}_…`) },
        { label: "Scopes", value: (k) => k.scopes.join(", ") },
        { label: "State", value: keyState },
        { label: "Expires", value: (k) => formatDate(k.expires_at) || "never" },
        { label: "Last used", value: (k) => formatDate(k.last_used_at) || "never" },
        { label: "Actions", value: revokeControl },
      ],
      keys,
      { caption: "API keys", empty: "No API keys yet." },
    ),
  );
}

function setUpUserForm() {
  const form = byId("user-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(usersMessage);
    clearFieldErrors(form);
    const body = {
      username: form.elements.username.value.trim(),
      password: form.elements.password.value,
      role: form.elements.role.value,
    };
    try {
      const user = await withLoading(form, api.send("POST", "/auth/users", body));
      form.reset();
      showNotice(usersMessage, `User ${user.username} created as ${user.role}.`, "success");
      await loadUsers();
    } catch (error) {
      const unplaced = fieldErrors(form, error);
      if (!Object.keys(error.fieldErrors || {}).length || Object.keys(unplaced).length) {
        showError(usersMessage, error);
      }
    }
  });
}

function setUpKeyForm(user) {
  const form = byId("key-form");
  const scopes = byId("key-scopes");
  for (const scope of user.scopes) {
    const id = `scope-${scope.replace(/[^a-z0-9]/gi, "-")}`;
    scopes.append(
      el(
        "div",
        {},
        el("input", { type: "checkbox", id, name: "scopes", value: scope }),
        " ",
        el("label", { for: id, class: "inline" }, scope),
      ),
    );
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(keysMessage);
    clearFieldErrors(form);
    const data = new FormData(form);
    const body = { name: String(data.get("name") || "").trim(), scopes: data.getAll("scopes") };
    const expires = String(data.get("expires_at") || "");
    if (expires) body.expires_at = `${expires}T23:59:59Z`;
    try {
      const created = await withLoading(form, api.send("POST", "/auth/api-keys", body));
      form.reset();
      const shown = byId("new-key");
      replace(
        shown,
        el(
          "div",
          { class: "alert alert-warning", role: "status" },
          el("p", {}, el("strong", {}, `Key "${created.name}" created. Copy it now: it is shown only once.`)),
          el("p", { class: "secret", id: "new-key-value", tabindex: "0", "aria-label": "The new API key" }, created.key),
        ),
      );
      shown.hidden = false;
      await loadKeys();
    } catch (error) {
      const unplaced = fieldErrors(form, error);
      if (!Object.keys(error.fieldErrors || {}).length || Object.keys(unplaced).length) {
        showError(keysMessage, error);
      }
    }
  });
}

async function start() {
  const user = await requireSignIn();
  if (!can("users:manage")) {
    showError(message, { status: 403, title: "Not allowed", detail: "Only an admin manages users and API keys." });
    for (const section of document.querySelectorAll("main section")) section.hidden = true;
    return;
  }
  setUpUserForm();
  setUpKeyForm(user);
  await Promise.all([
    loadUsers().catch((error) => showError(usersMessage, error)),
    loadKeys().catch((error) => showError(keysMessage, error)),
  ]);
}

start().catch((error) => showError(message, error));
