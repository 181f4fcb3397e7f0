// The filter editor: CodeMirror 6 with completion and inline errors from the console API.
import { autocompletion, closeBrackets, startCompletion } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { linter, lintGutter } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, placeholder } from "@codemirror/view";
import { api } from "./api.js";

async function complete(context) {
  const word = context.matchBefore(/["']?[^\s()"',]*/);
  const text = context.state.doc.toString();
  const res = await api("filter/complete", { filter: text, cursor: context.pos });
  if (!res.completions.length && !context.explicit) return null;
  return {
    from: res.start,
    to: context.pos,
    options: res.completions.map((c) => ({
      label: c.label,
      type: { column: "property", operator: "keyword", value: "constant", keyword: "keyword" }[c.kind],
      detail: c.detail,
      apply: c.kind === "value" || c.kind === "column" ? `${c.label} ` : `${c.label} `,
    })),
    validFor: word && word.from === res.start ? /^["']?[^\s()"',]*$/ : undefined,
  };
}

export function filterEditor(parent, initial, { onSubmit, onError }) {
  const lint = linter(async (view) => {
    const text = view.state.doc.toString();
    const res = await api("filter/validate", { filter: text });
    onError(res.valid ? null : res);
    if (res.valid) return [];
    const from = Math.min(res.offset, text.length);
    return [{ from, to: Math.min(from + 1, text.length) || from, severity: "error", message: res.message }];
  }, { delay: 300 });
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: initial,
      extensions: [
        history(),
        closeBrackets(),
        autocompletion({ override: [complete], activateOnTyping: true }),
        lint,
        lintGutter(),
        placeholder("InIfBoundary = external AND NOT Proto = udp   (Ctrl-Space completes, Ctrl-Enter applies)"),
        keymap.of([
          { key: "Mod-Enter", run: () => { onSubmit(view.state.doc.toString()); return true; } },
          { key: "Ctrl-Space", run: startCompletion },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        EditorView.lineWrapping,
      ],
    }),
  });
  return view;
}
