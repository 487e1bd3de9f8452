// Keyboard shortcuts of the agent screens.
//   /        focus the ticket search (list)      Esc    leave the search box, ↓ go to the results
//   j / k    next / previous ticket row (list)   Enter  open it (the row's link has focus)
//   r        write a reply (ticket page)         n      write an internal note (ticket page)
//   Ctrl+Enter (⌘+Enter) in the composer sends it.
// Single-letter shortcuts never fire while typing in a field or with a modifier key held.
(() => {
  "use strict";

  const isTyping = (el) =>
    !!el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

  function moveRow(step) {
    const links = Array.from(document.querySelectorAll("[data-row-link]"));
    if (links.length === 0) return false;
    const current = links.indexOf(document.activeElement);
    let next = current === -1 ? (step > 0 ? 0 : links.length - 1) : current + step;
    next = Math.max(0, Math.min(links.length - 1, next));
    links[next].focus();
    links[next].closest("[data-row]")?.scrollIntoView({ block: "nearest" });
    return true;
  }

  function startMessage(kind) {
    const composer = document.querySelector("[data-composer]");
    if (!composer) return false;
    const choice = composer.querySelector(`input[name="kind"][value="${kind}"]`);
    if (choice) choice.checked = true;
    const box = composer.querySelector("[data-reply-box]");
    box?.focus();
    box?.scrollIntoView({ block: "center" });
    return !!box;
  }

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.isComposing) return;
    const target = event.target;

    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      const form = target.closest?.("[data-composer]");
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (target.matches?.("[data-search-box]")) {
      // Leave the box without clearing it (Esc), or go straight to the results (↓).
      if (event.key === "Escape") target.blur();
      else if (!(event.key === "ArrowDown" && moveRow(1))) return;
      event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(target)) return;

    const search = document.querySelector("[data-search-box]");
    const actions = {
      "/": () => search && (search.focus(), search.select(), true),
      j: () => moveRow(1),
      k: () => moveRow(-1),
      r: () => startMessage("reply"),
      n: () => startMessage("note"),
    };
    if (!actions[event.key]?.()) return;
    event.preventDefault();
  });
})();
