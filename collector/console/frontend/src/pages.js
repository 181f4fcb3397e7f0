// Home (widgets), exporters and saved views.
import { api } from "./api.js";
import { compact, el, formatValue } from "./format.js";

export async function home(root) {
  // The graph, ECharts and the tiles' numbers at once; each drawn when it is there.
  const charts = import("./chart.js"); // ECharts, its own chunk
  const pending = api("widgets/graph");
  pending.catch(() => {}); // awaited below
  const rate = await api("widgets/flow-rate");
  const tiles = el("section", { class: "tiles" },
    el("div", { class: "tile" }, el("b", {}, rate.flows_per_second.toFixed(1)), " flows/s (last minute)"),
    el("div", { class: "tile" }, el("b", {}, String(rate.exporters)), " exporters sending"),
    el("div", { class: "tile" }, "last flow ", el("b", {}, rate.last_flow ? new Date(rate.last_flow).toLocaleString() : "never")),
  );
  const tops = el("section", { class: "tops" });
  const chartBox = el("div", { class: "chart small", id: "home-chart" });
  root.replaceChildren(tiles, el("h3", {}, "Last 24 hours"), chartBox, el("h3", {}, "Top over the last 5 minutes"), tops);
  for (const [what, title] of [["ExporterName", "Exporters"], ["InIfProvider", "Providers (in)"], ["Proto", "Protocols"], ["SrcNetCountry", "Source countries"]]) {
    const box = el("div", { class: "top" }, el("h4", {}, title));
    tops.append(box);
    api(`widgets/top/${what}`).then((res) => {
      for (const item of res.top) {
        box.append(el("div", { class: "bar" }, el("span", { class: "fill", style: `width:${item.percent}%` }), el("span", {}, item.name || "(none)"), el("span", { class: "num" }, `${item.percent.toFixed(1)} %`)));
      }
    });
  }
  const graph = await pending;
  const { disposeCharts, lineOption, makeChart } = await charts;
  disposeCharts();
  makeChart(chartBox).setOption(lineOption(graph, "stacked"));
}

export async function exporters(root) {
  const res = await api("exporters");
  const decoding = (e) => e.templates === null ? " · decoder state: no outlet answered"
    : ` · NetFlow/IPFIX/sFlow ${e.versions.join(", ") || "?"} · ${e.templates} templates · decoder errors: ${
      Object.entries(e.decoder_errors).map(([k, n]) => `${k} ${n}`).join(", ") || "none"}`;
  root.replaceChildren(
    el("h2", {}, `${res.exporters.length} exporters`),
    ...res.outlet_problems.map((p) => el("p", { class: "error" }, p)),
    ...res.exporters.map((e) => el("section", { class: "exporter" },
      el("h3", {}, e.name || e.address, " ", el("span", { class: "muted" }, e.address)),
      el("p", { class: "muted" },
        [["group", e.group], ["role", e.role], ["site", e.site], ["region", e.region], ["tenant", e.tenant]].filter(([, v]) => v).map(([k, v]) => `${k} ${v}`).join(" · "),
        ` — sampling ${e.sampling_rates.join(", ") || "?"} · ${e.flows_per_second.toFixed(2)} flows/s · last flow ${e.last_flow ? new Date(e.last_flow).toLocaleString() : "none in 5 min"}${decoding(e)}`),
      el("table", { class: "series" },
        el("thead", {}, el("tr", {}, ["ifIndex", "name", "description", "speed", "boundary", "provider", "in", "out"].map((h) => el("th", {}, h)))),
        el("tbody", {}, e.interfaces.map((i) => el("tr", {},
          el("td", { class: "num" }, String(i.index)), el("td", {}, i.name), el("td", {}, i.description),
          el("td", { class: "num" }, i.speed ? `${compact(i.speed * 1e6)}bps` : ""), el("td", {}, i.boundary), el("td", {}, i.provider),
          el("td", { class: "num" }, formatValue(i.in_bps, "l3bps")), el("td", { class: "num" }, formatValue(i.out_bps, "l3bps")),
        ))),
      ),
    )),
  );
}

export async function views(root) {
  const list = await api("saved/views");
  const render = (items) => root.replaceChildren(
    el("h2", {}, "Saved views"),
    items.length ? el("ul", { class: "views" }, items.map((v) => el("li", {},
      el("a", { href: `/v/${v.id}` }, v.name), " ", el("span", { class: "muted" }, `/v/${v.id} · ${new Date(v.created).toLocaleString()}`), " ",
      el("button", { onclick: async () => { await api(`saved/views/${v.id}`, undefined, "DELETE"); render(items.filter((x) => x.id !== v.id)); } }, "delete"),
    ))) : el("p", { class: "muted" }, "None yet: save one from the visualize page."),
  );
  render(list);
}
