// The status page refreshes its table and the running turns without a reload. The rows come
// from the server as HTML it rendered and escaped.
(function () {
  "use strict";
  var rows = document.getElementById("account-rows");
  var turns = document.getElementById("turns-running");
  if (!rows || !window.fetch) {
    return;
  }
  var lang = document.documentElement.lang.indexOf("zh") === 0 ? "zh" : "en";
  function refresh() {
    fetch("/api/status/live?lang=" + lang, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (live) {
        if (live) {
          rows.innerHTML = live.rows;
          turns.textContent = String(live.turns);
        }
      }, function () {});
  }
  window.setInterval(refresh, 2000);
})();
