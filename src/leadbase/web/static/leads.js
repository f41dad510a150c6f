// The /leads explorer: a clean URL from the filter form, row selection and
// the bulk action bar. Loaded with defer (the CSP allows no inline script).
// Without it the page still works: the filter form is a plain GET form and
// the bulk form posts whatever rows are ticked.
(function () {
  "use strict";

  // Filters: leave empty fields (and the default sort) out of the URL, so a
  // shared or bookmarked list says only what narrows it.
  var filters = document.getElementById("lead-filters");
  if (filters) {
    filters.addEventListener("submit", function (event) {
      event.preventDefault();
      var params = new URLSearchParams();
      new FormData(filters).forEach(function (value, name) {
        var field = filters.elements.namedItem(name);
        var fallback = field && field.getAttribute ? field.getAttribute("data-default") : null;
        if (typeof value === "string" && value.trim() !== "" && value !== fallback) {
          params.append(name, value.trim());
        }
      });
      var query = params.toString();
      window.location.assign(filters.getAttribute("action") + (query ? "?" + query : ""));
    });
    // Back to a list: the browser would put back what was typed or chosen
    // before leaving, which is not what this URL lists. Show the URL's values.
    window.addEventListener("pageshow", function (event) {
      var entry = window.performance.getEntriesByType("navigation")[0];
      if (event.persisted || (entry && entry.type === "back_forward")) {
        filters.reset();
      }
    });
  }

  var rows = document.getElementById("lead-rows");
  if (!rows) {
    return; // the list could not be shown (a bad filter value)
  }
  // "No leads yet" goes once quick-add puts the first lead in the table.
  new MutationObserver(function () {
    var empty = rows.children.length === 0;
    document.querySelectorAll('[data-role="empty-state"]').forEach(function (note) {
      note.hidden = !empty;
    });
  }).observe(rows, { childList: true });

  var bulk = document.getElementById("bulk-form");
  if (!bulk) {
    return; // a viewer: no selection, no bulk actions
  }
  var selectAll = document.getElementById("select-all");
  var count = bulk.querySelector('[data-role="selected-count"]');
  var message = bulk.querySelector('[data-role="bulk-message"]');
  var tag = document.getElementById("bulk-tag");

  function boxes() {
    return Array.prototype.slice.call(rows.querySelectorAll('input[name="ids"]'));
  }

  function selected() {
    return boxes().filter(function (box) { return box.checked; });
  }

  function say(text) {
    message.textContent = text;
    message.hidden = !text;
  }

  function refresh() {
    var all = boxes();
    var n = selected().length;
    count.textContent = n + " selected";
    if (selectAll) {
      selectAll.checked = all.length > 0 && n === all.length;
      selectAll.indeterminate = n > 0 && n < all.length;
      selectAll.disabled = all.length === 0;
    }
    if (n > 0) {
      say("");
    }
  }

  if (selectAll) {
    selectAll.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = selectAll.checked; });
      refresh();
    });
  }
  rows.addEventListener("change", function (event) {
    if (event.target && event.target.name === "ids") {
      refresh();
    }
  });
  // Quick-add puts new rows at the top: count them in.
  new MutationObserver(refresh).observe(rows, { childList: true });
  // The back button may bring the page back with boxes ticked.
  window.addEventListener("pageshow", refresh);

  bulk.addEventListener("submit", function (event) {
    var n = selected().length;
    var action = event.submitter ? event.submitter.value : "";
    if (n === 0) {
      event.preventDefault();
      say("Select at least one lead first.");
      return;
    }
    if (action === "tag" && tag && tag.value.trim() === "") {
      event.preventDefault();
      say("Enter the tag to add.");
      tag.focus();
      return;
    }
    var what = n === 1 ? "1 lead" : n + " leads";
    if (action === "delete" && !window.confirm("Delete " + what + "? Show deleted leads to restore them.")) {
      event.preventDefault();
    }
  });

  refresh();
})();
