// Graphs with ECharts: stacked, 100% stacked, lines, grid (one small chart per series), sankey.
// Only the parts drawn here (the whole of ECharts is three times the size to load and parse).
import { LineChart, SankeyChart } from "echarts/charts";
import { GridComponent, LegendComponent, TitleComponent, TooltipComponent } from "echarts/components";
import * as echarts from "echarts/core";
import { CanvasRenderer } from "echarts/renderers";
import { formatValue } from "./format.js";

echarts.use([LineChart, SankeyChart, GridComponent, LegendComponent, TitleComponent, TooltipComponent, CanvasRenderer]);

const charts = new Set();
window.addEventListener("resize", () => charts.forEach((c) => c.resize()));

function theme() {
  return document.documentElement.dataset.theme === "dark" ? "dark" : null;
}

export function makeChart(dom) {
  const chart = echarts.init(dom, theme(), { renderer: "canvas" });
  charts.add(chart);
  return chart;
}

export function disposeCharts() {
  charts.forEach((c) => c.dispose());
  charts.clear();
}

function label(series) {
  return series.dimensions.length ? series.dimensions.join(" · ") : "Total";
}

export function lineOption(graph, kind) {
  const times = graph.time.map((t) => new Date(t).getTime());
  const percent = kind === "stacked100";
  const stacked = kind === "stacked" || percent;
  let rows = graph.series.map((s) => s.values);
  if (percent) {
    const totals = times.map((_, i) => rows.reduce((a, r) => a + r[i], 0));
    rows = rows.map((r) => r.map((v, i) => (totals[i] ? (100 * v) / totals[i] : 0)));
  }
  const series = graph.series.map((s, n) => ({
    name: label(s),
    type: "line",
    stack: stacked ? "direct" : undefined,
    areaStyle: stacked ? {} : undefined,
    showSymbol: false,
    lineStyle: { width: stacked ? 0.5 : 1.5 },
    emphasis: { focus: "series" },
    data: times.map((t, i) => [t, rows[n][i]]),
  }));
  if (graph.reverse) {
    for (const s of graph.reverse) {
      series.push({
        name: `${label(s)} (reverse)`,
        type: "line",
        stack: stacked ? "reverse" : undefined,
        areaStyle: stacked ? { opacity: 0.5 } : undefined,
        showSymbol: false,
        lineStyle: { width: 0.5 },
        data: times.map((t, i) => [t, -s.values[i]]),
      });
    }
  }
  if (graph.previous) {
    series.push({
      name: graph.previous.dimensions[0],
      type: "line",
      showSymbol: false,
      lineStyle: { type: "dashed", width: 1.5 },
      data: times.map((t, i) => [t, graph.previous.values[i]]),
    });
  }
  const unit = percent ? "%" : graph.unit;
  return {
    backgroundColor: "transparent",
    animation: false,
    tooltip: { trigger: "axis", valueFormatter: (v) => formatValue(Math.abs(v), unit) },
    legend: { type: "scroll", bottom: 0 },
    grid: { left: 80, right: 24, top: 24, bottom: 56 },
    xAxis: { type: "time" },
    yAxis: { type: "value", max: percent ? 100 : undefined, axisLabel: { formatter: (v) => formatValue(Math.abs(v), unit) } },
    series,
  };
}

export function sankeyOption(graph) {
  return {
    backgroundColor: "transparent",
    animation: false,
    tooltip: { trigger: "item", valueFormatter: (v) => formatValue(v, graph.unit) },
    series: [{
      type: "sankey",
      left: 16, right: 160, top: 16, bottom: 16,
      emphasis: { focus: "adjacency" },
      lineStyle: { color: "gradient", curveness: 0.5 },
      data: graph.nodes.map((name) => ({ name })),
      links: graph.links,
    }],
  };
}
