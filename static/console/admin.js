// The admin pages' script: it only enhances; every page works without it.
// A running broadcast's counts: <section data-progress-url="..."> holding <span data-count="sent">.
(function () {
  var box = document.querySelector("[data-progress-url]");
  if (!box || !window.fetch) { return; }
  var url = box.getAttribute("data-progress-url");
  var finished = ["sent", "failed", "partially_failed"];
  function update() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body) { return; }
        Object.keys(body.counts).forEach(function (status) {
          var cell = box.querySelector('[data-count="' + status + '"]');
          if (cell) { cell.textContent = body.counts[status]; }
        });
        var state = box.querySelector("[data-status]");
        if (state) { state.textContent = body.status_label; }
        var bar = box.querySelector("progress");
        if (bar) { bar.value = body.done; bar.max = body.total; }
        if (finished.indexOf(body.status) < 0) { window.setTimeout(update, 2000); }
      })
      .catch(function () { window.setTimeout(update, 5000); });
  }
  window.setTimeout(update, 1000);
})();
