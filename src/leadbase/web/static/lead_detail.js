// The lead page: open a section to edit in place, and put the keyboard
// where the user is. Without this script every Edit and Cancel is a plain
// link (?edit=<section>) and the page works the same, a reload at a time.
(function () {
  "use strict";

  function firstInput(root) {
    return root.querySelector("input:not([type=hidden]), select, textarea");
  }

  // After a refused save, the summary; in an open section, its first field.
  function focusOpenSection() {
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); return; }
    var conflict = document.querySelector("[data-testid=conflict]");
    if (conflict) { conflict.scrollIntoView({ block: "center" }); return; }
    var form = document.getElementById("section-form");
    var input = form && firstInput(form);
    if (input) { input.focus(); }
  }

  // Swap one section for its copy in the page at `url` (its form or its
  // read view): the rest of the page, and what is typed elsewhere, stays.
  function swapSection(key, url, focus) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("section-" + key);
        var current = document.getElementById("section-" + key);
        if (!fresh || !current) { throw new Error("no section " + key); }
        current.replaceWith(fresh);
        window.history.replaceState(null, "", url.split("#")[0]);
        focus(fresh);
      });
  }

  function closeOpenSection() {
    var open = document.querySelector(".record-section.is-editing");
    if (!open) { return Promise.resolve(); }
    var key = open.getAttribute("data-section");
    return swapSection(key, window.location.pathname, function () {});
  }

  document.addEventListener("click", function (event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) { return; }
    var link = event.target.closest && event.target.closest("a[data-edit], a[data-cancel]");
    if (!link) { return; }
    var section = link.closest(".record-section");
    if (!section) { return; }
    event.preventDefault();
    var key = section.getAttribute("data-section");
    var go = link.hasAttribute("data-edit")
      ? closeOpenSection().then(function () {
          return swapSection(key, link.getAttribute("href"), function (fresh) {
            var input = firstInput(fresh);
            if (input) { input.focus(); }
          });
        })
      : swapSection(key, window.location.pathname, function (fresh) {
          var edit = fresh.querySelector("a[data-edit]");
          if (edit) { edit.focus(); }
        });
    go.catch(function () { window.location.assign(link.getAttribute("href")); });
  });

  // Escape in an open section is Cancel.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") { return; }
    var form = event.target.closest && event.target.closest("#section-form");
    var cancel = form && form.querySelector("a[data-cancel]");
    if (cancel) { event.preventDefault(); cancel.click(); }
  });

  // After load: the browser's own scroll to the #section-… fragment comes first.
  if (document.readyState === "complete") {
    focusOpenSection();
  } else {
    window.addEventListener("load", focusOpenSection);
  }
})();
