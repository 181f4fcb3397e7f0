// Dimension picker: an ordered list of chips, add from a list, remove, move left.
import { el } from "./format.js";

export function dimensionPicker(all, selected, onChange) {
  const box = el("div", { class: "dimensions", id: "dimensions" });
  const render = () => {
    box.replaceChildren(
      ...selected.map((name, i) =>
        el("span", { class: "chip", "data-dimension": name },
          i > 0 ? el("button", { title: "move left", onclick: () => { [selected[i - 1], selected[i]] = [selected[i], selected[i - 1]]; changed(); } }, "‹") : "",
          name,
          el("button", { title: "remove", onclick: () => { selected.splice(i, 1); changed(); } }, "×"),
        ),
      ),
      el("select", { id: "add-dimension", onchange: (ev) => { if (ev.target.value) { selected.push(ev.target.value); changed(); } } },
        el("option", { value: "" }, "+ dimension"),
        all.filter((d) => !selected.includes(d.name)).map((d) => el("option", { value: d.name, title: d.in_rollups ? "" : "flows table only" }, d.name + (d.in_rollups ? "" : " *"))),
      ),
    );
  };
  const changed = () => { render(); onChange([...selected]); };
  render();
  return box;
}
