// /login: trade a username and password for tokens, then go where the user was headed.
import { signIn, signedIn } from "./api.js";
import { byId, clearMessage, formValues, showError, withLoading } from "./ui.js";

const form = byId("login-form");
const message = byId("login-message");

// Only a path on this site: never an absolute or protocol-relative URL from the query string.
function nextPage() {
  const next = new URLSearchParams(window.location.search).get("next") || "/";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

// Already signed in (another tab, say): straight on.
if (signedIn()) window.location.replace(nextPage());

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  clearMessage(message);
  const { username = "", password = "" } = formValues(form);
  if (!username || !password) {
    showError(message, { title: "Enter your username and password" });
    return;
  }
  try {
    await withLoading(form, signIn(username, form.elements.password.value));
    window.location.assign(nextPage());
  } catch (error) {
    showError(message, error.status === 401 ? { title: "Wrong username or password" } : error);
    form.elements.password.select();
  }
});
