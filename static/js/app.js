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

  // The page after a sudo prompt carries the interrupted form: send it on at once (without
  // JavaScript its Continue button does the same).
  function submitKeptForms() {
    var forms = document.querySelectorAll("form[data-autosubmit]");
    for (var i = 0; i < forms.length; i++) {
      if (!forms[i].dataset.sent) {
        forms[i].dataset.sent = "1";
        forms[i].submit();
      }
    }
  }

  // Copy a secret shown on the page (backup codes) to the clipboard, and say so.
  function onCopyClick(event) {
    var button = event.target.closest ? event.target.closest("[data-copy-target]") : null;
    if (!button || !navigator.clipboard) {
      return;
    }
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) {
      return;
    }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var status = document.getElementById(button.getAttribute("data-copy-status"));
      if (status) {
        status.textContent = "Copied.";
      }
    });
  }

  // Copy buttons are shown only where copying can work.
  function revealCopyButtons() {
    if (!navigator.clipboard) {
      return;
    }
    var buttons = document.querySelectorAll("[data-copy-target][hidden]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
    }
  }

  // The server writes times in UTC, which is what a page without JavaScript shows. Here they are
  // rewritten in the browser's own time zone, with the UTC text kept as the tooltip.
  var TIME_FORMATS = {
    date: { year: "numeric", month: "short", day: "numeric" },
    minute: {
      year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    },
    datetime: {
      year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
    }
  };
  function localizeTimes() {
    var times = document.querySelectorAll("time[data-local-time]:not([data-localized])");
    for (var i = 0; i < times.length; i++) {
      var element = times[i];
      var when = new Date(element.getAttribute("datetime"));
      var format = TIME_FORMATS[element.getAttribute("data-local-time")];
      if (isNaN(when.getTime()) || !format || !window.Intl) {
        continue;
      }
      element.title = element.textContent.trim();
      element.textContent = new Intl.DateTimeFormat(undefined, format).format(when);
      element.setAttribute("data-localized", "");
    }
  }

  document.addEventListener("change", onThemeChange);
  document.addEventListener("htmx:after:swap", localizeTimes);
  document.addEventListener("click", onCopyClick);
  document.addEventListener("htmx:after:swap", focusFirstError);
  document.addEventListener("htmx:after:swap", submitKeptForms);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () {
      submitKeptForms();
      revealCopyButtons();
      localizeTimes();
    });
  } else {
    submitKeptForms();
    revealCopyButtons();
    localizeTimes();
  }
})();
