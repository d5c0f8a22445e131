// Wanted page: the select-all checkbox (delegated: the table is swapped by htmx).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.classList) return;
    if (box.classList.contains("wanted-check-all")) {
      document.querySelectorAll("input.wanted-check").forEach(function (check) {
        check.checked = box.checked;
      });
    } else if (box.classList.contains("wanted-check")) {
      var all = document.getElementById("wanted-check-all");
      var checks = document.querySelectorAll("input.wanted-check");
      var ticked = document.querySelectorAll("input.wanted-check:checked");
      if (all) {
        all.checked = checks.length > 0 && ticked.length === checks.length;
        all.indeterminate = ticked.length > 0 && ticked.length < checks.length;
      }
    }
  });
})();
