// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Apply a theme choice at once; the form (sent by htmx, or by the button without JS) remembers it.
  function onThemeChange(event) {
    var select = event.target;
    if (select && select.id === "theme-select") {
      document.documentElement.setAttribute("data-theme", select.value);
    }
  }

  // After htmx swaps in content, move focus to the first invalid field so keyboard and
  // screen-reader users land where the problem is.
  function focusFirstError() {
    var invalid = document.querySelector("main [aria-invalid='true']");
    if (invalid) {
      invalid.focus();
    }
  }

  document.addEventListener("change", onThemeChange);
  document.addEventListener("htmx:after:swap", focusFirstError);
})();
