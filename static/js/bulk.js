// Bulk actions on the ticket list: "select all", the selected count, and a return address that
// follows the list's current URL (htmx changes it as filters change). The form works without this.
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
    if (!event.target.matches("[data-bulk-form]")) return;
    var next = event.target.querySelector("[data-bulk-next]");
    if (next) next.value = window.location.pathname + window.location.search;
  });

  ["htmx:afterSwap", "htmx:after:swap"].forEach(function (name) {
    document.addEventListener(name, refresh);
  });
  document.addEventListener("DOMContentLoaded", refresh);
})();
