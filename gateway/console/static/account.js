// Account: who you are, what your role allows (from /auth/me), and changing your password.
import { api, requireSignIn } from "./api.js";
import { byId, clearFieldErrors, clearMessage, el, fieldErrors, replace, showError, showNotice, withLoading } from "./ui.js";

const message = byId("account-message");

function drawProfile(user) {
  replace(
    byId("profile"),
    el(
      "dl",
      { class: "details" },
      el("dt", {}, "Username"),
      el("dd", { id: "profile-username" }, user.username),
      el("dt", {}, "Role"),
      el("dd", { id: "profile-role" }, user.role),
    ),
  );
  const allowed = user.allowed && user.allowed.length
    ? user.allowed.map((entry) => el("li", {}, el("code", {}, entry.scope), ": ", entry.description))
    : (user.scopes || []).map((scope) => el("li", {}, el("code", {}, scope)));
  replace(byId("allowed"), allowed);
}

function setUpPasswordForm(user) {
  const form = byId("password-form");
  const passwordMessage = byId("password-message");
  form.elements.username.value = user.username;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearMessage(passwordMessage);
    clearFieldErrors(form);
    const current = form.elements.current_password.value;
    const next = form.elements.new_password.value;
    if (next !== form.elements.confirm_password.value) {
      fieldErrors(form, { fieldErrors: { confirm_password: ["does not match the new password"] } });
      return;
    }
    try {
      await withLoading(form, api.send("POST", "/auth/password", { current_password: current, new_password: next }));
      form.reset();
      form.elements.username.value = user.username;
      showNotice(passwordMessage, "Password changed. Your other sessions were signed out.", "success");
    } catch (error) {
      const unplaced = fieldErrors(form, error);
      if (!Object.keys(error.fieldErrors || {}).length || Object.keys(unplaced).length) {
        showError(passwordMessage, error);
      }
    }
  });
}

async function start() {
  const user = await requireSignIn();
  drawProfile(user);
  if (user.kind === "api_key") byId("password-section").hidden = true;
  else setUpPasswordForm(user);
}

start().catch((error) => showError(message, error));
