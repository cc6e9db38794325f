// Keeps the counts of sends on the page up to date while any of them is still going.
(function () {
  "use strict";
  var rows = Array.prototype.slice.call(document.querySelectorAll("tr[data-send-id]"));
  if (!rows.length) return;
  var settled = ["sent", "failed", "cancelled", "missed"];

  function update(row, data) {
    var counts = data.counts;
    var total = 0;
    Object.keys(counts).forEach(function (k) { total += counts[k]; });
    var done = counts.sent + counts.failed + counts.suppressed + counts.cancelled;
    var set = function (field, value) {
      var cell = row.querySelector('[data-field="' + field + '"]');
      if (cell) cell.textContent = value;
    };
    ["sent", "deferred", "failed", "suppressed"].forEach(function (k) { set(k, counts[k]); });
    set("recipients", total);
    var status = row.querySelector('[data-field="status"] .status');
    if (status) { status.textContent = data.status; status.className = "status " + data.status; }
    var bar = row.querySelector('[data-field="bar"]');
    if (bar) { bar.max = total || 1; bar.value = done; }
  }

  function poll() {
    var busy = rows.filter(function (row) {
      var status = row.querySelector('[data-field="status"] .status');
      return status && settled.indexOf(status.textContent.trim()) < 0;
    });
    if (!busy.length) return;
    var query = busy.map(function (row) { return "ids=" + row.dataset.sendId; }).join("&");
    fetch("/staff/progress.json?" + query, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : {}; })
      .then(function (data) {
        busy.forEach(function (row) { if (data[row.dataset.sendId]) update(row, data[row.dataset.sendId]); });
      })
      .catch(function () {})
      .then(function () { window.setTimeout(poll, 2000); });
  }
  window.setTimeout(poll, 2000);
})();
