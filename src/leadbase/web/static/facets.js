// Suggestions for filter fields: every <input data-facet="country"> (source,
// country, tag, lead_status, industry) offers the values that exist, each
// with how many leads it finds ("France — 12"), from GET /leads/facets/{field}.
// Fetched when the field gets focus and as the user types (debounced); an
// ARIA combobox: ArrowDown/ArrowUp move through the values, Enter picks one,
// Escape closes the list, and the field stays free text.
// Loaded with defer from /static (the CSP allows no inline script or style);
// its styles are facets.css beside it.
(function () {
  "use strict";
  var DEBOUNCE_MS = 150;
  var inputs = document.querySelectorAll("input[data-facet]");
  if (!inputs.length) {
    return;
  }
  var script = document.currentScript || document.querySelector('script[src*="facets.js"]');
  if (script && !document.querySelector('link[data-facets-css]')) {
    var link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = script.src.replace("facets.js", "facets.css");
    link.setAttribute("data-facets-css", "");
    document.head.appendChild(link);
  }
  var answers = {}; // "field?prefix" -> promise of values, for the page's life

  function fetchValues(field, prefix) {
    var key = field + "?" + prefix;
    if (!answers[key]) {
      var url = "/leads/facets/" + encodeURIComponent(field) + "?prefix=" + encodeURIComponent(prefix);
      answers[key] = fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (body) { return body && body.data ? body.data.values : []; })
        .catch(function () { delete answers[key]; return []; });
    }
    return answers[key];
  }

  var counter = 0;

  function enhance(input) {
    var field = input.getAttribute("data-facet");
    var listId = (input.id || "facet-" + (++counter)) + "-suggestions";
    var list = document.createElement("ul");
    list.id = listId;
    list.className = "facet-list";
    list.setAttribute("role", "listbox");
    // Not named after the field's label: get_by_label("Country") must find the field alone.
    list.setAttribute("aria-label", "Suggestions");
    list.hidden = true;
    input.insertAdjacentElement("afterend", list);
    if (input.parentElement) {
      input.parentElement.classList.add("facet-field");
    }
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");

    var options = [];
    var active = -1;
    var timer = null;
    var asked = 0;

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function setActive(index) {
      options.forEach(function (option, i) {
        option.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", options[index].id);
        options[index].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function pick(index) {
      input.value = options[index].getAttribute("data-value");
      close();
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function show(values) {
      list.textContent = "";
      options = values.map(function (item, i) {
        var option = document.createElement("li");
        option.id = listId + "-" + i;
        option.className = "facet-option";
        option.setAttribute("role", "option");
        option.setAttribute("aria-selected", "false");
        option.setAttribute("data-value", item.value);
        var value = document.createElement("span");
        value.className = "facet-value";
        value.textContent = item.value;
        var count = document.createElement("span");
        count.className = "facet-count";
        count.textContent = " — " + item.count.toLocaleString();
        option.appendChild(value);
        option.appendChild(count);
        // mousedown, not click: the field keeps its focus.
        option.addEventListener("mousedown", function (event) {
          event.preventDefault();
          pick(i);
        });
        list.appendChild(option);
        return option;
      });
      active = -1;
      var open = options.length > 0 && document.activeElement === input;
      list.hidden = !open;
      input.setAttribute("aria-expanded", open ? "true" : "false");
    }

    function suggest() {
      var mine = ++asked;
      fetchValues(field, input.value.trim()).then(function (values) {
        if (mine === asked) { // a later keystroke's answer wins
          show(values);
        }
      });
    }

    input.addEventListener("focus", suggest);
    input.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(suggest, DEBOUNCE_MS);
    });
    input.addEventListener("blur", function () {
      window.clearTimeout(timer);
      asked++;
      close();
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (list.hidden) {
          suggest();
          event.preventDefault();
          return;
        }
        var step = event.key === "ArrowDown" ? 1 : -1;
        var next = active + step;
        if (next >= options.length) { next = 0; }
        if (next < 0) { next = options.length - 1; }
        setActive(next);
        event.preventDefault();
      } else if (event.key === "Enter" && !list.hidden && active >= 0) {
        event.preventDefault(); // pick the value; a second Enter applies the filters
        pick(active);
      } else if (event.key === "Escape" && !list.hidden) {
        event.preventDefault();
        event.stopPropagation(); // close the list, not a dialog around it
        close();
      }
    });
  }

  Array.prototype.forEach.call(inputs, enhance);
})();
