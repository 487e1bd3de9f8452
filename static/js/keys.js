// Keyboard shortcuts of the agent screens.
//   /        focus the ticket search (list)      Esc    leave the search box, ↓ go to the results
//   j / k    next / previous ticket row (list)   Enter  open it (the row's link has focus)
//   r        write a reply (ticket page)         n      write an internal note (ticket page)
//   a        assign the ticket to me (page)      s      go to the status select (ticket page)
//   ?        list these shortcuts (any signed-in page; the dialog is in base.html, Esc closes it)
//   Ctrl+Enter (⌘+Enter) in the composer sends it.
// Single-letter shortcuts never fire while typing in a field, with Ctrl/Alt/⌘ held, or behind an open dialog.
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

  function assignToMe() {
    // The "Assign to me" form is only on the page when the ticket is open and not already ours.
    const form = document.querySelector("form[data-assign-me]");
    if (!form) return false;
    form.requestSubmit();
    return true;
  }

  function focusStatus() {
    const select = document.querySelector("[data-status-select]");
    if (!select) return false;
    select.focus();
    select.scrollIntoView({ block: "nearest" });
    return true;
  }

  // The shortcuts dialog: focus goes back to where it was when the dialog closes (Esc or the button).
  let returnFocusTo = null;

  function showShortcuts() {
    const dialog = document.querySelector("dialog[data-shortcuts]");
    if (!dialog || dialog.open) return false;
    returnFocusTo = document.activeElement;
    dialog.showModal();
    return true;
  }

  document.addEventListener("close", (event) => {
    if (!event.target.matches?.("dialog[data-shortcuts]")) return;
    const previous = returnFocusTo;
    returnFocusTo = null;
    if (previous && previous !== document.body && previous.isConnected) previous.focus();
  }, true); // "close" does not bubble

  document.addEventListener("click", (event) => {
    const opener = event.target.closest?.("[data-shortcuts-open]");
    if (!opener) return;
    const menu = opener.closest("details"); // the account menu: close it, focus comes back to its button
    if (menu) {
      menu.open = false;
      menu.querySelector("summary")?.focus();
    }
    showShortcuts();
  });

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
    if (document.querySelector("dialog[open]")) return;

    const search = document.querySelector("[data-search-box]");
    const actions = {
      "/": () => search && (search.focus(), search.select(), true),
      j: () => moveRow(1),
      k: () => moveRow(-1),
      r: () => startMessage("reply"),
      n: () => startMessage("note"),
      a: () => assignToMe(),
      s: () => focusStatus(),
      "?": () => showShortcuts(),  // Shift is allowed: on most layouts "?" needs it
    };
    if (!actions[event.key]?.()) return;
    event.preventDefault();
  });
})();
