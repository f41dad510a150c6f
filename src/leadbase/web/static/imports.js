// /imports: a run's page follows its progress without reloading; the
// mapping preview says when the leads shown no longer match the selects.
// Loaded with defer after console.js (window.leadbase); the pages work
// without it (the run page refreshes itself, the preview has its button).
(function () {
  "use strict";
  var FINISHED = { completed: true, failed: true, reverted: true };
  var POLL_MS = 1000;

  function follow(run) {
    var id = run.getAttribute("data-run");
    var first = run.getAttribute("data-status");
    var bar = run.querySelector('[data-role="bar"]');
    var rows = run.querySelector('[data-role="rows"]');
    var badge = document.querySelector('[data-role="status"]');
    var failures = 0;

    function show(state) {
      if (bar && state.progress !== null && state.progress !== undefined) {
        bar.max = 1;
        bar.value = state.progress;
      }
      if (rows) {
        rows.textContent = state.rows_done.toLocaleString() +
          (state.rows_total ? " of about " + state.rows_total.toLocaleString() : "") + " rows read";
      }
      Object.keys(state.counts || {}).forEach(function (name) {
        var cell = run.querySelector('[data-count="' + name + '"]');
        if (cell) { cell.textContent = state.counts[name].toLocaleString(); }
      });
      if (badge) {
        badge.textContent = state.status_label;
        badge.className = "badge status-" + state.status;
      }
    }

    function poll() {
      window.leadbase.getJSON("/imports/" + encodeURIComponent(id) + "/progress").then(function (answer) {
        if (!answer.ok) { throw new Error("status " + answer.status); }
        failures = 0;
        show(answer.data);
        if (answer.data.status !== first && FINISHED[answer.data.status]) {
          window.location.reload();  // the results: counts, rejects, leads, revert
          return;
        }
        window.setTimeout(poll, POLL_MS);
      }).catch(function () {
        failures += 1;  // a restart of the server, say: slower, then stop
        if (failures < 10) { window.setTimeout(poll, POLL_MS * failures); }
      });
    }
    window.setTimeout(poll, POLL_MS);
  }

  function watchMapping(form) {
    var note = null;
    form.addEventListener("change", function (event) {
      if (!event.target.matches || !event.target.matches("select[name^='map-']")) { return; }
      if (note) { return; }
      var refresh = form.querySelector('[data-role="refresh-preview"]');
      note = document.createElement("p");
      note.className = "field-hint imp-stale";
      note.setAttribute("role", "status");
      note.textContent = "The leads shown follow the columns as they were: Update preview to see this change.";
      if (refresh) { refresh.parentNode.insertBefore(note, refresh.parentNode.firstChild); }
    });
  }

  var run = document.querySelector('[data-role="run"][data-active]');
  if (run && window.leadbase) { follow(run); }
  var mapping = document.querySelector('[data-role="mapping-form"]');
  if (mapping) { watchMapping(mapping); }
})();
