// Shared by every console page: the CSRF token for fetches, confirmations.
// Loaded with defer from /static (the CSP allows no inline script).
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

  window.leadbase = {
    csrf: csrf,
    getJSON: function (url) { return request("GET", url); },
    postJSON: function (url, body) { return request("POST", url, body === undefined ? {} : body); },
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
