// The ChatPanel's conversation and input box (an anywidget view).
// Finished messages arrive as one list when a message ends; the answer being streamed arrives on its own
// ("live"), so a token repaints only that message. The input box is never redrawn: focus stays in it.

function el(tag, cls, html) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (html !== undefined) e.innerHTML = html;
  return e;
}

function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const area = el("textarea");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  document.execCommand("copy");
  area.remove();
  return Promise.resolve();
}

function thinking(text, live) {
  if (!text) return null;
  const d = el("details", "nxs-thinking");
  const words = text.trim() ? text.trim().split(/\s+/).length : 0;
  d.appendChild(el("summary", "", `<i>${live ? "thinking…" : "thought"} (${words} words)</i>`));
  const body = el("div", "nxs-thinking-text");
  body.textContent = text;
  d.appendChild(body);
  return d;
}

function messageEl(m, box) {
  const row = el("div", `nxs-msg nxs-${m.role}`);
  const head = el("div", "nxs-head");
  head.appendChild(el("b", "nxs-role", m.role));
  if (m.meta) head.appendChild(el("span", "nxs-meta", m.meta));
  if (m.role === "assistant") {
    const copy = el("button", "nxs-copy", "copy");
    copy.title = "copy this answer as Markdown";
    copy.addEventListener("click", () => {
      copyText(m.text).then(
        () => { copy.textContent = "copied"; setTimeout(() => (copy.textContent = "copy"), 1500); },
        () => { copy.textContent = "copy failed"; },
      );
      box.focus();
    });
    head.appendChild(copy);
  }
  row.appendChild(head);
  const t = thinking(m.thinking, false);
  if (t) row.appendChild(t);
  row.appendChild(el("div", "nxs-body", m.html));
  if (m.mark) row.appendChild(el("div", "nxs-mark", m.mark));
  return row;
}

function render({ model, el: root }) {
  root.classList.add("nxs-chatview");
  root.setAttribute("data-lm-suppress-shortcuts", "true"); // JupyterLab: Enter here is ours, not "run cell"
  const log = el("div", "nxs-log");
  const live = el("div", "nxs-msg nxs-assistant nxs-streaming");
  const box = el("textarea", "nxs-input");
  box.rows = 3;
  box.placeholder = "Type a message. Enter sends, Shift+Enter starts a new line.";
  root.append(log, live, box);

  const drawMessages = () => {
    const msgs = model.get("messages");
    log.replaceChildren(...msgs.map((m) => messageEl(m, box)));
    if (!msgs.length) log.appendChild(el("i", "nxs-empty", "no messages yet"));
    root.scrollTop = root.scrollHeight;
  };
  const drawLive = () => {
    const l = model.get("live") || {};
    live.hidden = !(l.html || l.thinking);
    if (live.hidden) return;
    live.replaceChildren(el("div", "nxs-head", "<b class='nxs-role'>assistant</b>"));
    const t = thinking(l.thinking, !l.html);
    if (t) live.appendChild(t);
    live.appendChild(el("div", "nxs-body", (l.html || "") + "<span class='nxs-cursor'>▌</span>"));
  };
  // What this view sent as "value", oldest first: the kernel echoes each back, and an echo must not
  // overwrite what has been typed since. A value not in the list came from Python (say, the box cleared).
  const sent = [];
  const sync = () => {
    sent.push(box.value);
    if (sent.length > 50) sent.shift();
    model.set("value", box.value);
    model.save_changes();
  };
  const send = () => {
    sync();
    model.send({ event: "send", text: box.value });
  };

  box.value = model.get("value");
  box.addEventListener("input", sync);
  box.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.isComposing) return;
    e.preventDefault();
    e.stopPropagation(); // the notebook must not see it: Shift+Enter there runs the cell
    if (e.shiftKey) {
      // a new line, inserted here: JupyterLab cancels the browser's own line break in an output area
      box.setRangeText("\n", box.selectionStart, box.selectionEnd, "end");
      sync();
    } else {
      send();
    }
  });
  model.on("change:value", () => {
    const v = model.get("value");
    const echo = sent.indexOf(v);
    if (echo >= 0) {
      sent.splice(0, echo + 1);
      return;
    }
    if (box.value !== v) box.value = v;
  });
  model.on("change:messages", drawMessages);
  model.on("change:live", drawLive);
  drawMessages();
  drawLive();
  box.focus();
}

export default { render };
