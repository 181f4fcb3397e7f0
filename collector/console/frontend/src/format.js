// Numbers as operators read them: 1.2 Gbps, 340 kpps, 42.1 %.
const UNIT_LABELS = { l3bps: "bps", l2bps: "bps (L2)", pps: "pps", "inl2%": "% in", "outl2%": "% out" };

export function unitLabel(unit) {
  return UNIT_LABELS[unit] || unit;
}

export function formatValue(value, unit) {
  if (unit && unit.endsWith("%")) return `${value.toFixed(value < 10 ? 2 : 1)} %`;
  const abs = Math.abs(value);
  const suffix = unit === "pps" ? "pps" : "bps";
  for (const [scale, prefix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= scale) return `${(value / scale).toFixed(abs / scale < 10 ? 2 : 1)} ${prefix}${suffix}`;
  }
  return `${value.toFixed(abs < 10 ? 2 : 0)} ${suffix}`;
}

export function formatTotal(total, unit) {
  if (unit === "pps") return `${compact(total)} packets`;
  if (unit && unit.endsWith("%")) return `${compact(total)} %·s`;
  return `${compact(total / 8)}B`;
}

export function compact(n) {
  const abs = Math.abs(n);
  for (const [scale, prefix] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
    if (abs >= scale) return `${(n / scale).toFixed(1)} ${prefix}`;
  }
  return `${Math.round(n)} `;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}
