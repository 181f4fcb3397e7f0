// Time range picker: presets, free input (relative `-6h` or ISO dates), shift and refresh.
import { el } from "./format.js";

const PRESETS = ["-15m", "-1h", "-6h", "-24h", "-7d", "-30d"];
const UNITS = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

// "-24h" -> now - 24 h; "now"; an ISO date; seconds since the epoch.
export function resolveTime(text, now = Date.now()) {
  const t = String(text).trim();
  if (t === "" || t === "now") return new Date(now);
  const rel = t.match(/^-(\d+)([smhdw])$/);
  if (rel) return new Date(now - Number(rel[1]) * UNITS[rel[2]] * 1000);
  if (/^\d+$/.test(t)) return new Date(Number(t) * 1000);
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) throw new Error(`not a time: ${t} (try -6h, now or 2026-12-01T10:00)`);
  return d;
}

export function timeRange(state, onChange) {
  const start = el("input", { id: "start", value: state.start, size: 18, title: "start: -6h, ISO date" });
  const end = el("input", { id: "end", value: state.end, size: 18, title: "end: now, ISO date" });
  const apply = () => onChange({ start: start.value, end: end.value });
  const shift = (sign) => {
    const s = resolveTime(start.value), e = resolveTime(end.value);
    const len = e - s;
    start.value = new Date(s.getTime() + sign * len).toISOString().slice(0, 16);
    end.value = new Date(e.getTime() + sign * len).toISOString().slice(0, 16);
    apply();
  };
  for (const input of [start, end]) input.addEventListener("change", apply);
  return el(
    "div",
    { class: "timerange" },
    el("select", {
      onchange: (ev) => { start.value = ev.target.value; end.value = "now"; apply(); },
      title: "preset",
    }, el("option", { value: "" }, "range…"), PRESETS.map((p) => el("option", { value: p }, p.slice(1)))),
    start, "→", end,
    el("button", { onclick: () => shift(-1), title: "earlier" }, "◀"),
    el("button", { onclick: () => shift(1), title: "later" }, "▶"),
    el("button", { onclick: apply, title: "refresh" }, "⟳"),
  );
}
