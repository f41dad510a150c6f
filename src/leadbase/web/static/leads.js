// The /leads explorer: a clean URL from the filter form, the flash message
// once only, row selection and the bulk bar, "select all matching", and the
// column chooser's move buttons. Loaded with defer (the CSP allows no inline
// script). Without it the filters still work (a plain GET form).
(function () {
  "use strict";

  // A bulk action's outcome (?done=tagged-3) is said once: drop it from the
  // URL, so a reload or a shared link does not say it again.
  (function dropFlashParams() {
    var url = new URL(window.location.href);
    var had = false;
    ["done", "skipped", "error"].forEach(function (name) {
      if (url.searchParams.has(name)) {
        url.searchParams.delete(name);
        had = true;
      }
    });
    if (had) {
      window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
    }
  })();

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

  // The column chooser: move a column up or down; focus stays on the button.
  document.querySelectorAll('[data-role="column-list"]').forEach(function (list) {
    list.addEventListener("click", function (event) {
      var button = event.target.closest("[data-move]");
      if (!button) {
        return;
      }
      var item = button.closest("li");
      if (button.getAttribute("data-move") === "up" && item.previousElementSibling) {
        list.insertBefore(item, item.previousElementSibling);
      } else if (button.getAttribute("data-move") === "down" && item.nextElementSibling) {
        list.insertBefore(item.nextElementSibling, item);
      }
      button.focus();
    });
  });

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
  var matching = bulk.querySelector('[data-role="matching"]');
  var selectMatching = bulk.querySelector('[data-role="select-matching"]');
  var clearSelection = bulk.querySelector('[data-role="clear-selection"]');
  var exportSelected = bulk.querySelector('[data-role="export-selected"]');
  var tag = document.getElementById("bulk-tag");
  var total = selectMatching ? Number(selectMatching.getAttribute("data-total")) : 0;
  var cap = selectMatching ? Number(selectMatching.getAttribute("data-cap")) : 0;

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

  function allMatching() {
    return !matching.disabled;
  }

  function setAllMatching(on) {
    matching.disabled = !on;
    if (exportSelected) {
      // The export of every match is the list's own export link.
      exportSelected.hidden = on;
    }
  }

  function plural(n) {
    return n.toLocaleString() + (n === 1 ? " lead" : " leads");
  }

  function refresh() {
    var all = boxes();
    var n = selected().length;
    if (selectAll) {
      selectAll.checked = all.length > 0 && n === all.length;
      selectAll.indeterminate = n > 0 && n < all.length;
      selectAll.disabled = all.length === 0;
    }
    if (n < all.length || n === 0) {
      setAllMatching(false);
    }
    if (allMatching()) {
      count.textContent = "All " + selectMatching.getAttribute("data-count-text") + " matching leads selected";
    } else {
      count.textContent = n + " selected";
    }
    if (selectMatching) {
      selectMatching.hidden = !(n > 0 && n === all.length) || allMatching();
    }
    var wasHidden = bulk.hidden;
    bulk.hidden = n === 0;
    if (n > 0) {
      say("");
    }
    if (wasHidden !== bulk.hidden) {
      document.body.classList.toggle("has-selection", !bulk.hidden);
    }
  }

  if (selectAll) {
    selectAll.addEventListener("change", function () {
      boxes().forEach(function (box) { box.checked = selectAll.checked; });
      refresh();
    });
  }
  if (selectMatching) {
    selectMatching.addEventListener("click", function () {
      setAllMatching(true);
      refresh();
      clearSelection.focus();
    });
  }
  clearSelection.addEventListener("click", function () {
    boxes().forEach(function (box) { box.checked = false; });
    setAllMatching(false);
    refresh();
    if (selectAll) {
      selectAll.focus();
    }
  });
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
    var n = allMatching() ? total : selected().length;
    var submitter = event.submitter;
    var action = submitter && submitter.name === "action" ? submitter.value : "";
    if (n === 0) {
      event.preventDefault();
      say("Select at least one lead first.");
      return;
    }
    if (!action) {
      return; // Export selected: a download, the page stays
    }
    if (allMatching() && total > cap) {
      event.preventDefault();
      say("“Select all matching” acts on at most " + cap.toLocaleString() + " leads at once: narrow the filters first.");
      return;
    }
    if (action === "tag" && tag && tag.value.trim() === "") {
      event.preventDefault();
      say("Enter the tag to add.");
      tag.focus();
      return;
    }
    if (action === "delete" && !window.confirm("Delete " + plural(n) + "? Show deleted leads to restore them.")) {
      event.preventDefault();
    }
  });

  refresh();
})();
