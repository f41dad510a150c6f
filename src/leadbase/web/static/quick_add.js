// Quick-add on /leads, and the live enrichment status of lead rows.
//
// The form (a dialog, templates/leads/_quick_add.html) posts JSON to
// /leads/quick-add; the dialog closes and the new row, "in progress", goes
// to the top of #lead-rows, scrolled into view. Every row on the page whose
// data-enrichment-status is "in_progress" (quick-added or not) is watched:
// GET /leads/status?ids=... after a second, backing off to thirty while
// nothing changes; a row whose status changed is swapped for its new
// rendering and the change is announced in the polite live region. After
// GIVE_UP without any change the page stops asking and says so on the rows
// ("still working — reload later"): a stuck job must not poll forever.
(function () {
  "use strict";
  var lb = window.leadbase;
  if (!lb) {
    return;
  }

  var tuning = window.leadbaseStatusPolling || {}; // tests shorten these
  var FIRST_DELAY = tuning.firstDelay || 1000;
  var MAX_DELAY = tuning.maxDelay || 30000;
  var GIVE_UP = tuning.giveUpAfter || 5 * 60 * 1000;
  var BACKOFF = 1.5;
  var BATCH = 200; // the most ids /leads/status answers at once
  var WATCHED = 'tr[data-lead-id][data-enrichment-status="in_progress"]';
  var FIELDS = ["email", "domain", "name"];
  var STATUS_WORDS = { completed: "enriched", failed: "enrichment failed", pending: "waiting for enrichment" };

  var delay = FIRST_DELAY;
  var lastChange = Date.now();
  var gaveUp = false;
  var timer = null;
  var busy = false;
  var missing = {}; // ids the server no longer knows: not asked for again

  // --- announcing -----------------------------------------------------------------

  function announcer() {
    var node = document.querySelector('[data-role="status-announcer"]');
    if (!node) {
      node = document.createElement("p");
      node.className = "visually-hidden";
      node.setAttribute("aria-live", "polite");
      node.setAttribute("data-role", "status-announcer");
      document.body.appendChild(node);
    }
    return node;
  }

  function announce(text) {
    var node = announcer();
    node.textContent = "";
    // A fresh text node after a tick: screen readers re-read a repeated message.
    window.setTimeout(function () { node.textContent = text; }, 50);
  }

  function leadName(row) {
    var link = row.querySelector("a");
    return link ? link.textContent.trim() : "A lead";
  }

  // --- rows -----------------------------------------------------------------------

  function rowFrom(html) {
    var holder = document.createElement("template");
    holder.innerHTML = String(html).trim();
    return holder.content.querySelector("tr");
  }

  function replaceRow(old, html, status) {
    var fresh = rowFrom(html);
    if (fresh && fresh.cells.length === old.cells.length) {
      var box = old.querySelector('input[type="checkbox"]');
      var freshBox = fresh.querySelector('input[type="checkbox"]');
      if (box && freshBox) {
        freshBox.checked = box.checked;
      }
      var focused = old.contains(document.activeElement) ? document.activeElement : null;
      old.parentNode.replaceChild(fresh, old);
      if (focused) {
        var again = fresh.querySelector(focused.tagName === "INPUT" ? 'input[type="checkbox"]' : "a");
        if (again) {
          again.focus();
        }
      }
      return fresh;
    }
    // A table with other columns (a company's leads): change the badge alone.
    var cell = old.querySelector('[data-role="enrichment-status"]');
    var freshCell = fresh && fresh.querySelector('[data-role="enrichment-status"]');
    if (cell && freshCell) {
      cell.innerHTML = freshCell.innerHTML;
    }
    old.setAttribute("data-enrichment-status", status);
    return old;
  }

  // --- polling --------------------------------------------------------------------

  function watchedRows() {
    return Array.prototype.filter.call(document.querySelectorAll(WATCHED), function (row) {
      return !missing[row.getAttribute("data-lead-id")];
    });
  }

  function rowsById(rows) {
    var byId = {};
    rows.forEach(function (row) {
      var id = row.getAttribute("data-lead-id");
      (byId[id] = byId[id] || []).push(row);
    });
    return byId;
  }

  function tableColumns() {
    var table = document.querySelector("table[data-columns]");
    return table ? table.getAttribute("data-columns") : null;
  }

  function ask(ids) {
    var columns = tableColumns();
    var url = "/leads/status?ids=" + ids.map(encodeURIComponent).join(",");
    if (columns !== null) {
      url += "&columns=" + encodeURIComponent(columns);
    }
    return lb.getJSON(url);
  }

  // Nothing changed for GIVE_UP: stop, and say so on each row still waiting.
  function giveUp(rows) {
    gaveUp = true;
    rows.forEach(function (row) {
      var cell = row.querySelector('[data-role="enrichment-status"]') || row.cells[row.cells.length - 1];
      if (cell && !cell.querySelector(".polling-hint")) {
        var hint = document.createElement("span");
        hint.className = "polling-hint";
        hint.setAttribute("data-role", "polling-hint");
        hint.textContent = "still working — reload later";
        cell.appendChild(hint);
      }
    });
    announce("Enrichment is still working on " + rows.length + (rows.length === 1 ? " lead" : " leads") + ". Reload the page later to see the results.");
  }

  function apply(byId, answers) {
    var news = [];
    answers.forEach(function (answer) {
      if (!answer.ok || !answer.data || !answer.data.data) {
        throw new Error("status check failed: " + answer.status);
      }
      var found = answer.data.data;
      answer.asked.forEach(function (id) {
        var now = found[id];
        if (!now) {
          missing[id] = true;
          return;
        }
        (byId[id] || []).forEach(function (row) {
          if (row.getAttribute("data-enrichment-status") !== now.enrichment_status) {
            var shown = replaceRow(row, now.row_html, now.enrichment_status);
            var words = STATUS_WORDS[now.enrichment_status] || now.enrichment_status.replace("_", " ");
            news.push(leadName(shown) + ": " + words + ".");
          }
        });
      });
    });
    if (news.length) {
      announce(news.join(" "));
    }
    return news.length;
  }

  function poll() {
    timer = null;
    if (document.hidden) {
      return; // visibilitychange starts again
    }
    var rows = watchedRows();
    if (!rows.length) {
      return;
    }
    if (Date.now() - lastChange > GIVE_UP) {
      giveUp(rows);
      return;
    }
    var byId = rowsById(rows);
    var ids = Object.keys(byId);
    var batches = [];
    for (var start = 0; start < ids.length; start += BATCH) {
      batches.push(ids.slice(start, start + BATCH));
    }
    busy = true;
    Promise.all(batches.map(function (batch) {
      return ask(batch).then(function (answer) { answer.asked = batch; return answer; });
    })).then(function (answers) {
      var changed = apply(byId, answers);
      if (changed) {
        lastChange = Date.now();
      }
      delay = changed ? FIRST_DELAY : Math.min(MAX_DELAY, delay * BACKOFF);
    }).catch(function () {
      delay = MAX_DELAY; // the server is busy or away: ask less often
    }).then(function () {
      busy = false;
      schedule(false);
    });
  }

  function schedule(soon) {
    if (soon) {
      delay = FIRST_DELAY;
      lastChange = Date.now();
      if (gaveUp) {
        gaveUp = false;
        document.querySelectorAll('[data-role="polling-hint"]').forEach(function (hint) { hint.remove(); });
      }
      if (timer) {
        window.clearTimeout(timer);
        timer = null;
      }
    }
    if (busy || timer || !watchedRows().length) {
      return; // a poll in flight schedules the next one itself
    }
    timer = window.setTimeout(poll, delay);
  }

  function startsWatching(mutation) {
    if (mutation.type === "attributes") {
      return mutation.target.matches && mutation.target.matches(WATCHED);
    }
    return Array.prototype.some.call(mutation.addedNodes, function (node) {
      return node.nodeType === 1 && (node.matches(WATCHED) || node.querySelector(WATCHED) !== null);
    });
  }

  // Rows another script adds or marks in progress (bulk enrich, a new page).
  new MutationObserver(function (mutations) {
    if (mutations.some(startsWatching)) {
      schedule(true);
    }
  }).observe(document.body, {
    childList: true,
    subtree: true,
    attributes: true,
    attributeFilter: ["data-enrichment-status"],
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      schedule(true);
    }
  });

  // --- the quick-add form ---------------------------------------------------------

  function setUpForm(form) {
    var button = form.querySelector('button[type="submit"]');
    var formError = form.querySelector('[data-role="form-error"]');
    var status = form.querySelector('[data-role="form-status"]');

    function input(field) {
      return form.elements.namedItem(field);
    }

    function clearErrors() {
      formError.hidden = true;
      formError.textContent = "";
      FIELDS.forEach(function (field) {
        var slot = form.querySelector('[data-error-for="' + field + '"]');
        slot.hidden = true;
        slot.textContent = "";
        input(field).removeAttribute("aria-invalid");
      });
    }

    function showErrors(answer) {
      var body = answer.data || {};
      var details = body.details && body.details.length ? body.details : [{ field: null, message: body.message }];
      var general = [];
      var first = null;
      details.forEach(function (detail) {
        var field = FIELDS.indexOf(detail.field) >= 0 ? detail.field : null;
        var message = detail.message || "Could not add the lead (error " + answer.status + ").";
        if (!field) {
          general.push(message);
          return;
        }
        var slot = form.querySelector('[data-error-for="' + field + '"]');
        slot.textContent = message;
        if (detail.existing_id) {
          var link = document.createElement("a");
          link.href = "/leads/" + encodeURIComponent(detail.existing_id);
          link.textContent = "Open it";
          slot.appendChild(document.createTextNode(" "));
          slot.appendChild(link);
        }
        slot.hidden = false;
        input(field).setAttribute("aria-invalid", "true");
        first = first || input(field);
      });
      if (general.length) {
        formError.textContent = general.join(" ");
        formError.hidden = false;
      }
      status.textContent = "";
      (first || input("email")).focus();
    }

    function showAdded(data, email) {
      var table = document.getElementById("lead-rows");
      if (!table) {
        window.location.reload(); // no table on the page yet: the list shows the new lead
        return;
      }
      var row = rowFrom(data.row_html);
      table.insertBefore(row, table.firstElementChild);
      form.reset();
      status.textContent = "";
      row.classList.add("just-added");
      var dialog = form.closest("dialog");
      if (dialog && dialog.open) {
        // Focus goes to the new lead's link once the dialog has closed.
        dialog.returnFocusTo = row.querySelector("a") || dialog.returnFocusTo;
        dialog.close();
      }
      row.scrollIntoView({ block: "center" });
      announce("Added " + email + ". Enriching it now.");
      schedule(true);
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (form.getAttribute("aria-busy") === "true") {
        return;
      }
      clearErrors();
      var body = {};
      FIELDS.forEach(function (field) { body[field] = input(field).value; });
      if (tableColumns() !== null) {
        body.columns = tableColumns();
      }
      form.setAttribute("aria-busy", "true");
      button.disabled = true;
      status.textContent = "Adding…";
      lb.postJSON(form.getAttribute("action"), body).then(function (answer) {
        if (answer.ok && answer.data && answer.data.success) {
          showAdded(answer.data.data, body.email.trim());
        } else {
          showErrors(answer);
        }
      }, function () {
        showErrors({ status: 0, data: { message: "The server could not be reached. Try again." } });
      }).then(function () {
        form.removeAttribute("aria-busy");
        button.disabled = false;
      });
    });
  }

  var form = document.querySelector('form[data-role="quick-add"]');
  if (form) {
    setUpForm(form);
    var dialog = form.closest("dialog");
    if (dialog) {
      // Each opening starts clean: no errors from the last try.
      dialog.addEventListener("leadbase:open", function () {
        form.querySelectorAll("[data-error-for]").forEach(function (slot) {
          slot.hidden = true;
          slot.textContent = "";
        });
        form.querySelectorAll("[aria-invalid]").forEach(function (field) {
          field.removeAttribute("aria-invalid");
        });
      });
    }
  }
  schedule(true);
})();
