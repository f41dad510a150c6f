// Shared by every console page: the CSRF token for fetches, confirmations,
// local times, dialogs and keyboard shortcuts. Loaded with defer from
// /static (the CSP allows no inline script).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.getAttribute("content") : "";

  function request(method, url, body) {
    var headers = { Accept: "application/json", "X-CSRF-Token": csrf };
    var init = { method: method, headers: headers, credentials: "same-origin" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(url, init).then(function (response) {
      if (response.status === 401) {
        window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname + window.location.search));
      }
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { ok: response.ok, status: response.status, data: data };
      });
    });
  }

  // --- times: <time datetime="2026-12-01T16:10:05Z" data-local> --------------------
  // Shown in the browser's zone as "2 h ago" (recent) or "Nov 3" / "Nov 3, 2025"
  // (older), on one line, with the exact local time in the title.

  var exact = new Intl.DateTimeFormat(undefined, {
    weekday: "short", year: "numeric", month: "short", day: "numeric",
    hour: "numeric", minute: "2-digit", timeZoneName: "short",
  });
  var dayMonth = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });
  var dayMonthYear = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric" });

  function parseTime(text) {
    // ISO 8601; also "2026-12-01 16:10:05.123456+00:00" as Python prints it.
    var iso = String(text || "").trim().replace(" ", "T").replace(/(\.\d{3})\d+/, "$1");
    if (/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(iso)) {
      iso += "Z"; // no zone given: the server stores UTC
    }
    var when = new Date(iso);
    return isNaN(when.getTime()) ? null : when;
  }

  function relative(when, now) {
    var seconds = Math.round((now - when) / 1000);
    var future = seconds < 0;
    var s = Math.abs(seconds);
    var text;
    if (s < 45) {
      return "just now";
    } else if (s < 3600) {
      text = Math.round(s / 60) + " min";
    } else if (s < 86400) {
      text = Math.round(s / 3600) + " h";
    } else if (s < 7 * 86400) {
      text = Math.round(s / 86400) + " d";
    } else {
      var sameYear = when.getFullYear() === new Date(now).getFullYear();
      return (sameYear ? dayMonth : dayMonthYear).format(when);
    }
    return future ? "in " + text : text + " ago";
  }

  function localTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-local]").forEach(function (node) {
      var when = parseTime(node.getAttribute("datetime"));
      if (!when) {
        return;
      }
      node.textContent = relative(when, now);
      node.title = exact.format(when);
    });
  }

  // Rows added later (quick-add, live status) get theirs too; every minute
  // "just now" moves on.
  new MutationObserver(function (mutations) {
    mutations.forEach(function (mutation) {
      Array.prototype.forEach.call(mutation.addedNodes, function (node) {
        if (node.nodeType === 1) {
          if (node.matches("time[data-local]")) {
            localTimes(node.parentNode);
          } else if (node.querySelector("time[data-local]")) {
            localTimes(node);
          }
        }
      });
    });
  }).observe(document.body, { childList: true, subtree: true });
  window.setInterval(function () { localTimes(document); }, 60000);
  localTimes(document);

  // --- dialogs: [data-dialog-open="id"] opens <dialog id>; Escape closes --------------

  function openDialog(id, opener) {
    var dialog = document.getElementById(id);
    if (!dialog || dialog.open) {
      return;
    }
    dialog.returnFocusTo = opener || document.activeElement;
    dialog.showModal(); // focuses its [autofocus] control
    dialog.dispatchEvent(new CustomEvent("leadbase:open"));
  }

  document.addEventListener("click", function (event) {
    var opener = event.target.closest && event.target.closest("[data-dialog-open]");
    if (opener) {
      event.preventDefault();
      openDialog(opener.getAttribute("data-dialog-open"), opener);
      return;
    }
    var closer = event.target.closest && event.target.closest("[data-dialog-close]");
    if (closer) {
      var dialog = closer.closest("dialog");
      if (dialog) {
        dialog.close();
      }
      return;
    }
    // A click on the backdrop (the dialog element itself, outside its form) closes it.
    if (event.target.tagName === "DIALOG" && event.target.open) {
      var box = event.target.getBoundingClientRect();
      var inside = event.clientX >= box.left && event.clientX <= box.right &&
        event.clientY >= box.top && event.clientY <= box.bottom;
      if (!inside) {
        event.target.close();
      }
    }
  });

  document.querySelectorAll("dialog").forEach(function (dialog) {
    dialog.addEventListener("close", function () {
      var back = dialog.returnFocusTo;
      if (back && document.contains(back) && typeof back.focus === "function") {
        back.focus();
      }
    });
  });

  // Escape also closes an open menu (<details>) and puts focus on its summary.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") {
      return;
    }
    var open = document.querySelector("details[open].menu, details[open].nav-views, details[open].more-filters");
    if (open && open.contains(document.activeElement)) {
      open.open = false;
      open.querySelector("summary").focus();
    }
  });
  // A click elsewhere closes menus.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details[open].menu, details[open].nav-views").forEach(function (menu) {
      if (!menu.contains(event.target)) {
        menu.open = false;
      }
    });
  });

  // --- shortcuts: "/" search, "n" new lead (not while typing) -------------------------

  function typing(target) {
    if (!target || !target.tagName) {
      return false;
    }
    var tag = target.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) {
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return;
    }
    if (event.key === "/") {
      var search = document.querySelector('input[type="search"]');
      if (search) {
        event.preventDefault();
        search.focus();
        search.select();
      }
    } else if (event.key === "n") {
      var add = document.querySelector('[data-dialog-open][aria-keyshortcuts="n"]');
      if (add) {
        event.preventDefault();
        openDialog(add.getAttribute("data-dialog-open"), add);
      }
    }
  });

  window.leadbase = {
    csrf: csrf,
    getJSON: function (url) { return request("GET", url); },
    postJSON: function (url, body) { return request("POST", url, body === undefined ? {} : body); },
    localTimes: localTimes,
    openDialog: openDialog,
  };

  // <form data-confirm="Delete this lead?">: ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });
})();
