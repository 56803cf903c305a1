// The dashboard shell: sign-in with an API key, the navigation between views (the URL's hash), and
// each view's lifetime (its timers stop and its drawer goes when another view opens).

import { api, apiKey, whenUnauthorized } from "./api.js";
import { clear, failure } from "./dom.js";
import * as calls from "./calls.js";
import * as campaigns from "./campaigns.js";
import * as exporting from "./export.js";
import * as leads from "./leads.js";
import * as overview from "./overview.js";

const VIEWS = {
  overview: { title: "Overview", render: (root, view) => overview.render(root, view) },
  leads: { title: "Leads", render: (root, view, sub) => leads.render(root, view, sub) },
  campaigns: { title: "Campaigns", render: (root, view) => campaigns.render(root, view) },
  calls: { title: "Calls", render: (root, view) => calls.render(root, view) },
  export: { title: "Export", render: (root, view) => exporting.render(root, view) },
};

const signIn = document.getElementById("sign-in");
const signInForm = document.getElementById("sign-in-form");
const signInError = document.getElementById("sign-in-error");
const keyInput = document.getElementById("api-key");
const nav = document.getElementById("nav");
const main = document.getElementById("view");
const heading = document.getElementById("view-title");

// What a view can ask of the shell; everything it registers ends when the view is left.
class View {
  constructor() {
    this.timers = [];
    this.leaving = [];
  }

  every(ms, task) {
    task();
    this.timers.push(setInterval(task, ms));
  }

  onLeave(callback) {
    this.leaving.push(callback);
  }

  leave() {
    this.timers.forEach(clearInterval);
    this.leaving.forEach((callback) => callback());
  }
}

let current = null;

function route() {
  if (!apiKey.get()) return showSignIn();
  const [name, sub] = location.hash.replace(/^#/, "").split("/");
  const view = VIEWS[name] ? name : "overview";
  if (current) current.leave();
  current = new View();
  for (const link of nav.querySelectorAll("a[data-view]")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  heading.textContent = VIEWS[view].title;
  document.title = `${VIEWS[view].title} · leadlight`;
  clear(main);
  main.dataset.view = view;
  Promise.resolve(VIEWS[view].render(main, current, sub)).catch((error) => main.append(failure(error)));
}

function showSignIn(message = "") {
  if (current) current.leave();
  current = null;
  nav.hidden = true;
  heading.textContent = "Sign in";
  clear(main);
  signIn.hidden = false;
  signInError.textContent = message;
  signInError.hidden = !message;
  keyInput.focus();
}

signInForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) {
    signInError.textContent = "Paste an API key.";
    signInError.hidden = false;
    return;
  }
  const button = signInForm.querySelector("button");
  button.disabled = true;
  try {
    // The key is checked by the API itself; a wrong one shows the API's own message.
    await api("/analytics/overview", { key });
    apiKey.set(key);
    keyInput.value = "";
    signIn.hidden = true;
    nav.hidden = false;
    route();
    document.getElementById("main").focus();
  } catch (error) {
    signInError.textContent = error.message;
    signInError.hidden = false;
  } finally {
    button.disabled = false;
  }
});

document.getElementById("sign-out").addEventListener("click", () => {
  apiKey.clear();
  showSignIn();
});

whenUnauthorized((error) => {
  apiKey.clear();
  showSignIn(error.message);
});

window.addEventListener("hashchange", route);

if (apiKey.get()) {
  signIn.hidden = true;
  nav.hidden = false;
  route();
} else {
  showSignIn();
}

