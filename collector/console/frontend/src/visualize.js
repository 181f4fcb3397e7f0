// The visualize page: every control writes the URL; the URL alone redraws the same view.
import { api } from "./api.js";
import { dimensionPicker } from "./dimensions.js";
import { el, formatTotal, formatValue, unitLabel } from "./format.js";
import { resolveTime, timeRange } from "./timerange.js";

const DEFAULTS = {
  start: "-6h", end: "now", points: "200", dimensions: "ExporterName", limit: "10",
  limitType: "avg", unit: "l3bps", graph: "stacked", filter: "", bidirectional: "",
  previous: "none", v4: "24", v6: "48",
};

export function readState(search = location.search) {
  const params = new URLSearchParams(search);
  const state = { ...DEFAULTS };
  for (const k of Object.keys(DEFAULTS)) if (params.has(k)) state[k] = params.get(k);
  return state;
}

export function stateQuery(state) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v !== DEFAULTS[k]) params.set(k, v);
  return params.toString();
}

function select(id, value, options, onChange) {
  return el("select", { id, onchange: (ev) => onChange(ev.target.value) },
    options.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
}

export async function visualize(root) {
  const state = readState();
  history.replaceState(null, "", `/visualize?${stateQuery(state)}`); // canonical order
  // The graph is the critical path: ask for it at once, beside the dimensions (the picker),
  // and load the filter editor (CodeMirror, its own chunk) after it, without waiting for it.
  const first = fetchGraph();
  const charts = import("./chart.js"); // ECharts, its own chunk: parsed while the graph comes
  const dims = await api("dimensions");
  let editor = null;
  const editorText = () => (editor ? editor.state.doc.toString() : state.filter);
  const go = (changes) => {
    Object.assign(state, changes);
    history.replaceState(null, "", `/visualize?${stateQuery(state)}`);
    draw();
  };
  const errorBox = el("div", { id: "filter-error", class: "error", hidden: true });
  const filterBox = el("div", { id: "filter", class: "filter" });
  const status = el("div", { id: "status", class: "muted" });
  const chartBox = el("div", { id: "chart", class: "chart" });
  const table = el("table", { id: "series", class: "series" });
  const sql = el("pre", { id: "sql" });
  const saveName = el("input", { id: "view-name", placeholder: "name of this view" });
  // Saved filters: pick one to load it into the editor, or save the editor's text.
  const savedFilters = el("select", { id: "saved-filters", title: "saved filters", onchange: (ev) => {
    const text = ev.target.value;
    if (text === "\u0000save") {
      const name = window.prompt("name of this filter");
      const current = editorText();
      if (name && current) api("saved/filters", { name, filter: current }).then(loadFilters);
      ev.target.value = "";
      return;
    }
    if (text) {
      editor?.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: text } });
      go({ filter: text });
    }
  } });
  const loadFilters = () => api("saved/filters").then((list) => savedFilters.replaceChildren(
    el("option", { value: "" }, "saved filters…"),
    list.map((f) => el("option", { value: f.filter, title: f.filter }, f.name)),
    el("option", { value: "\u0000save" }, "+ save this filter"),
  ));
  loadFilters();
  const saved = el("span", { id: "saved", class: "muted" });
  const controls = el("section", { class: "controls" },
    timeRange(state, go),
    el("label", {}, "dimensions ", dimensionPicker(dims, state.dimensions ? state.dimensions.split(",") : [], (d) => go({ dimensions: d.join(",") }))),
    el("div", { class: "row" },
      el("label", {}, "top ", el("input", { id: "limit", type: "number", min: 1, max: 50, value: state.limit, onchange: (ev) => go({ limit: ev.target.value }) })),
      el("label", {}, "by ", select("limit-type", state.limitType, [["avg", "average"], ["max", "max"], ["last", "last"], ["p95", "95th"]], (v) => go({ limitType: v }))),
      el("label", {}, "unit ", select("unit", state.unit, [["l3bps", "L3 bits/s"], ["l2bps", "L2 bits/s"], ["pps", "packets/s"], ["inl2%", "% in speed"], ["outl2%", "% out speed"]], (v) => go({ unit: v }))),
      el("label", {}, "graph ", select("graph-type", state.graph, [["stacked", "stacked"], ["stacked100", "100% stacked"], ["lines", "lines"], ["grid", "grid"], ["sankey", "sankey"]], (v) => go({ graph: v }))),
      el("label", {}, el("input", { id: "bidirectional", type: "checkbox", checked: state.bidirectional === "1", onchange: (ev) => go({ bidirectional: ev.target.checked ? "1" : "" }) }), " bidirectional"),
      el("label", {}, "compare ", select("previous", state.previous, [["none", "—"], ["day", "day before"], ["week", "week before"]], (v) => go({ previous: v }))),
    ),
    el("div", { class: "row" }, filterBox, el("button", { id: "apply", class: "primary", onclick: () => go({ filter: editorText() }) }, "Apply"), savedFilters),
    errorBox,
  );
  root.replaceChildren(
    controls, status, chartBox, table,
    el("details", { class: "sql" }, el("summary", {}, "SQL"), sql),
    el("div", { class: "row" }, saveName, el("button", { id: "save-view", onclick: save }, "Save view"), saved),
  );
  import("./filter-editor.js").then(({ filterEditor }) => {
    editor = filterEditor(filterBox, state.filter, {
      onSubmit: (text) => go({ filter: text }),
      onError: (res) => {
        errorBox.hidden = !res;
        errorBox.textContent = res ? `line ${res.line}, column ${res.column}: ${res.message}` : "";
      },
    });
  });

  async function save() {
    if (!saveName.value.trim()) { saved.textContent = "give the view a name"; return; }
    const view = await api("saved/views", { name: saveName.value.trim(), state: stateQuery(state) });
    saved.replaceChildren("saved: ", el("a", { id: "view-link", href: `/v/${view.id}` }, `${location.origin}/v/${view.id}`));
  }

  // The request of the state's graph, or an Error for a time the picker cannot resolve.
  function fetchGraph() {
    let request;
    try {
      request = {
        start: resolveTime(state.start).toISOString(),
        end: resolveTime(state.end).toISOString(),
        points: Number(state.points),
        dimensions: state.dimensions ? state.dimensions.split(",") : [],
        limit: Number(state.limit),
        limit_type: state.limitType,
        unit: state.unit,
        filter: state.filter,
        bidirectional: state.bidirectional === "1",
        previous_period: state.previous,
        truncate_v4: Number(state.v4),
        truncate_v6: Number(state.v6),
      };
    } catch (e) {
      return { invalid: e };
    }
    const pending = api(state.graph === "sankey" ? "graph/sankey" : "graph/line", request);
    pending.catch(() => {}); // handled by draw(); not an unhandled rejection meanwhile
    return { pending };
  }

  async function draw(asked = fetchGraph()) {
    if (asked.invalid) {
      status.textContent = asked.invalid.message;
      return;
    }
    status.textContent = "loading…";
    document.body.dataset.drawn = "";
    try {
      const sankey = state.graph === "sankey";
      const graph = await asked.pending;
      const { disposeCharts, lineOption, makeChart, sankeyOption } = await charts;
      disposeCharts();
      chartBox.replaceChildren();
      if (sankey) {
        const chart = makeChart(chartBox);
        chart.setOption(sankeyOption(graph));
        window.flowweirCharts = [chart];
      } else if (state.graph === "grid") {
        chartBox.classList.add("grid");
        window.flowweirCharts = graph.series.map((s) => {
          const cell = el("div", { class: "cell" });
          chartBox.append(cell);
          const chart = makeChart(cell);
          chart.setOption({ ...lineOption({ ...graph, series: [s], reverse: null, previous: null }, "lines"), title: { text: s.dimensions.join(" · "), textStyle: { fontSize: 12 } }, legend: { show: false } });
          return chart;
        });
      } else {
        chartBox.classList.remove("grid");
        const chart = makeChart(chartBox);
        chart.setOption(lineOption(graph, state.graph));
        window.flowweirCharts = [chart];
      }
      window.flowweirGraph = graph;
      renderTable(graph, sankey);
      sql.textContent = graph.sql.join(";\n\n") + ";";
      status.textContent = `${graph.table.name} — ${graph.table.reason}${graph.interval ? `, ${graph.interval} s per point` : ""}`;
      document.body.dataset.drawn = "1";
    } catch (e) {
      chartBox.replaceChildren(el("div", { class: "error", id: "graph-error" }, e.message));
      status.textContent = "";
      document.body.dataset.drawn = "error";
    }
  }

  function renderTable(graph, sankey) {
    const names = state.dimensions ? state.dimensions.split(",") : [];
    const rows = sankey ? graph.rows : graph.series;
    const head = sankey ? ["rate"] : ["min", "max", "avg", "95th", "total"];
    table.replaceChildren(
      el("thead", {}, el("tr", {}, [...names, ...head].map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((s) => el("tr", {},
        s.dimensions.map((d) => el("td", {}, d)),
        sankey ? el("td", { class: "num" }, formatValue(s.values[0], graph.unit))
          : [s.stats.min, s.stats.max, s.stats.avg, s.stats.p95].map((v) => el("td", { class: "num" }, formatValue(v, graph.unit))).concat(el("td", { class: "num" }, formatTotal(s.stats.total, graph.unit))),
      ))),
    );
    table.dataset.unit = unitLabel(graph.unit);
  }

  draw(first);
}
