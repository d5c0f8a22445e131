// Sublarr UI glue: CSRF header for htmx, the phone menu, toasts that fade.
(function () {
  "use strict";
  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  document.addEventListener("htmx:configRequest", function (event) {
    event.detail.headers["X-CSRFToken"] = token();
  });
  // An error answer to an htmx action becomes a toast instead of vanishing.
  document.addEventListener("htmx:responseError", function (event) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var text = event.detail.xhr.responseText || "";
    var message = "Request failed (" + event.detail.xhr.status + ")";
    try {
      var body = JSON.parse(text);
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (e) {
      var doc = new DOMParser().parseFromString(text, "text/html");
      var found = doc.querySelector("[data-error-message]");
      if (found) message = found.textContent.trim();
    }
    var toast = document.createElement("div");
    toast.className = "toast toast-error";
    toast.setAttribute("role", "alert");
    toast.textContent = message;
    box.replaceChildren(toast);
  });
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.querySelector(".nav-toggle");
    var sidebar = document.getElementById("sidebar");
    if (button && sidebar) {
      button.addEventListener("click", function () {
        var open = sidebar.classList.toggle("open");
        button.setAttribute("aria-expanded", open ? "true" : "false");
        if (open) { var first = sidebar.querySelector("a"); if (first) first.focus(); }
      });
      document.addEventListener("keydown", function (event) {
        if (event.key === "Escape" && sidebar.classList.contains("open")) {
          sidebar.classList.remove("open");
          button.setAttribute("aria-expanded", "false");
          button.focus();
        }
      });
    }
  });
  // Toasts leave after a few seconds; errors stay until the next one.
  var observer = new MutationObserver(function () {
    document.querySelectorAll(".toast-success, .toast-info").forEach(function (el) {
      if (el.dataset.fading) return;
      el.dataset.fading = "1";
      setTimeout(function () { el.remove(); }, 5000);
    });
  });
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("toasts");
    if (box) observer.observe(box, { childList: true, subtree: true });
  });
})();
