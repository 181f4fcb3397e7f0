// Router: one page per path; the theme toggle; who is signed in.
import "./style.css";
import { api } from "./api.js";
import { el } from "./format.js";
import { exporters, home, views } from "./pages.js";
import { visualize } from "./visualize.js";

const PAGES = { "/": home, "/visualize": visualize, "/exporters": exporters, "/views": views };

document.getElementById("theme").addEventListener("click", () => {
  const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
  document.documentElement.dataset.theme = next;
  localStorage.setItem("flowweir-theme", next);
  route();
});

api("user").then((u) => { document.getElementById("user").textContent = u.name; }).catch(() => {});

async function route() {
  const root = document.getElementById("page");
  const page = PAGES[location.pathname] || home;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.getAttribute("href") === location.pathname);
  try {
    await page(root);
  } catch (e) {
    root.replaceChildren(el("div", { class: "error" }, e.message));
  }
}

route();
