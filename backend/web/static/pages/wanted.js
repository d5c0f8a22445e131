// Wanted page: the select-all checkbox. Delegated and re-synced after every swap,
// because htmx replaces the table (the checkboxes themselves are hx-preserve'd).
(function () {
  "use strict";
  function syncAll() {
    var all = document.getElementById("wanted-check-all");
    if (!all) return;
    var checks = document.querySelectorAll("input.wanted-check").length;
    var ticked = document.querySelectorAll("input.wanted-check:checked").length;
    all.checked = checks > 0 && ticked === checks;
    all.indeterminate = ticked > 0 && ticked < checks;
  }
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList) return;
    if (box.classList.contains("wanted-check-all")) {
      document.querySelectorAll("input.wanted-check").forEach(function (check) {
        check.checked = box.checked;
      });
    } else if (box.classList.contains("wanted-check")) {
      syncAll();
    }
  });
  document.addEventListener("htmx:afterSettle", syncAll);
})();
