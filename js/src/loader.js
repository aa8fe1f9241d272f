// The %%glm view's `_esm`: a loader of about a kilobyte; the view's code is sent, not saved.
//
// anywidget syncs `_esm` as widget state, and notebooks keep widget state: nbclient / nbconvert /
// papermill keep it for every widget a run made (closed ones too), JupyterLab with "save widget
// state" for the open ones. With the view's code (~90 KB: marked, DOMPurify) as `_esm`, every
// %%glm cell added that much to a saved notebook. So the kernel sends the code in a custom message
// right after the widget opens (custom messages are never saved), and this loader imports it once
// per page and version: later views reuse the module, and one module instance serves them all.
//
// Messages for the view that arrive before its code has loaded are kept and handed over in order.
// anywidget delivers none before `initialize` has returned, so nothing is missed. A view shown
// from saved widget state without a kernel gets no code: it stays empty, as its text would anyway
// (the text comes in messages too; the saved Markdown copy under %%glm cells has it).
const REGISTRY = "__glmNotebookStreamView";
const modules = globalThis[REGISTRY] || (globalThis[REGISTRY] = new Map()); // version -> Promise
const pending = new Map(); // _stream_id -> Promise of the view's module

function importCode(version, source) {
  let loaded = modules.get(version);
  if (!loaded) {
    const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
    loaded = import(/* webpackIgnore: true */ url).then((mod) => {
      URL.revokeObjectURL(url);
      return mod.default;
    });
    modules.set(version, loaded);
  }
  return loaded;
}

/** `model`, with its custom messages relayed by `listeners` (the loader's queue comes first). */
function relayed(model, listeners) {
  return new Proxy(model, {
    get(target, prop) {
      if (prop === "on" || prop === "off") {
        return (name, callback, ...rest) => {
          if (name !== "msg:custom") return target[prop](name, callback, ...rest);
          if (prop === "on") listeners.add(callback);
          else listeners.delete(callback);
          return undefined;
        };
      }
      const value = target[prop];
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

export default {
  initialize({ model }) {
    const id = model.get("_stream_id");
    const version = model.get("_code_version");
    const listeners = new Set();
    let queue = [];
    let gotCode = null;
    const code = modules.get(version) || new Promise((resolve) => (gotCode = resolve));
    const onMessage = (msg, buffers) => {
      if (msg && msg.type === "code") {
        if (gotCode !== null && msg.version === version) gotCode(importCode(msg.version, msg.source));
        return;
      }
      if (queue !== null) queue.push([msg, buffers]);
      else for (const listener of listeners) listener(msg, buffers);
    };
    model.on("msg:custom", onMessage);
    let disposed = false;
    let cleanup = null;
    const ready = code.then((view) => {
      if (disposed) return view;
      cleanup = view.initialize({ model: relayed(model, listeners) });
      const early = queue;
      queue = null;
      for (const [msg, buffers] of early) for (const listener of listeners) listener(msg, buffers);
      return view;
    });
    pending.set(id, ready);
    return () => {
      disposed = true;
      model.off("msg:custom", onMessage);
      if (pending.get(id) === ready) pending.delete(id);
      if (typeof cleanup === "function") cleanup();
    };
  },
  render({ model, el }) {
    const ready = pending.get(model.get("_stream_id")) || modules.get(model.get("_code_version"));
    if (!ready) return undefined;
    let disposed = false;
    let cleanup = null;
    ready.then((view) => {
      if (!disposed) cleanup = view.render({ model, el });
    });
    return () => {
      disposed = true;
      if (typeof cleanup === "function") cleanup();
    };
  },
};
