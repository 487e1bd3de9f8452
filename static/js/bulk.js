// The ticket list: bulk actions ("select all", the selected count), and forms that carry the list's
// current URL, which htmx changes as filters change (bulk's return address, a saved view's filters).
// Everything works without this file.
(function () {
  "use strict";

  function items() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-bulk-item]"));
  }

  function refresh() {
    var boxes = items();
    var checked = boxes.filter(function (box) { return box.checked; }).length;
    var count = document.querySelector("[data-bulk-count]");
    if (count) count.textContent = String(checked);
    var all = document.querySelector("[data-bulk-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-bulk-all]")) {
      items().forEach(function (box) { box.checked = target.checked; });
    }
    if (target.matches("[data-bulk-all], [data-bulk-item]")) refresh();
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var next = form.querySelector("[data-bulk-next]");
    if (next) next.value = window.location.pathname + window.location.search;
    var query = form.querySelector("[data-current-query]");
    if (query) query.value = window.location.search.replace(/^\?/, "");
  });

  ["htmx:afterSwap", "htmx:after:swap"].forEach(function (name) {
    document.addEventListener(name, refresh);
  });
  document.addEventListener("DOMContentLoaded", refresh);
})();
