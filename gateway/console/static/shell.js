// Every signed-in page: who is signed in, the nav links their role may use, signing out.
import { loadUser, signOut, signedIn } from "./api.js";
import { byId } from "./ui.js";

async function drawShell() {
  if (!signedIn()) return; // the page's own requireSignIn() sends the visitor to /login
  let user;
  try {
    user = await loadUser();
  } catch {
    return; // the page shows the error
  }
  const scopes = new Set(user.scopes || []);
  for (const item of document.querySelectorAll("[data-needs]")) {
    item.hidden = !scopes.has(item.dataset.needs);
  }
  byId("user-name").textContent = user.username || "Account";
  byId("user-role").textContent = user.role || "";
  byId("user-menu").hidden = false;
}

byId("sign-out").addEventListener("click", async (event) => {
  event.currentTarget.disabled = true;
  await signOut();
  window.location.assign("/login");
});

drawShell();
