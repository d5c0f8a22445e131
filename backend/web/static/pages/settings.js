// Settings page: the API key's copy button (clipboard API, or select-and-copy where the
// browser refuses it, e.g. plain http on a LAN address).
(function () {
  "use strict";
  function say(button, text) {
    var out = document.getElementById(button.getAttribute("aria-describedby") || "");
    if (out) out.textContent = text;
  }
  function fallback(input, button) {
    input.focus();
    input.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    say(button, ok ? "Copied" : "Selected: press Ctrl+C to copy");
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy"));
    if (!input) return;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () {
        say(button, "Copied");
      }, function () { fallback(input, button); });
    } else {
      fallback(input, button);
    }
  });
})();
