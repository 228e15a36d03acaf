// The console's one script (the Content-Security-Policy allows no inline script). It follows
// the journal over Server-Sent Events and, when something happens, fetches the page again and
// swaps each part marked data-live: the server renders (and escapes) everything, this only
// moves it. A part holding a field being edited is left alone, with a note to reload.
"use strict";
(function () {
  const liveParts = () => Array.from(document.querySelectorAll("[data-live][id]"));
  if (!window.EventSource || !document.getElementById("runs") &&
      !document.getElementById("timeline") && !document.getElementById("inbox") &&
      !document.getElementById("health")) {
    return;
  }
  const status = document.getElementById("live-status");
  let busy = false;
  let again = false;

  function editing(part) {
    const active = document.activeElement;
    if (active && part.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) {
      return true;
    }
    return Array.from(part.querySelectorAll("textarea, input[type=text]"))
      .some((field) => field.value !== field.defaultValue);
  }

  async function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok) {
        return;
      }
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      let held = false;
      for (const part of liveParts()) {
        const replacement = fresh.getElementById(part.id);
        if (!replacement) {
          continue;
        }
        if (editing(part)) {
          held = true;
          continue;
        }
        part.replaceWith(document.importNode(replacement, true));
      }
      if (status) {
        status.hidden = !held;
      }
      document.body.dataset.refreshed = String(Number(document.body.dataset.refreshed || "0") + 1);
    } catch (error) {
      document.body.dataset.live = "error";
    } finally {
      busy = false;
      if (again) {
        again = false;
        refresh();
      }
    }
  }

  const after = encodeURIComponent(document.body.dataset.after || "0");
  const source = new EventSource("/v1/events/stream?after=" + after);
  source.onopen = () => { document.body.dataset.live = "on"; };
  source.onerror = () => { document.body.dataset.live = "off"; };
  source.onmessage = () => { refresh(); };
})();
