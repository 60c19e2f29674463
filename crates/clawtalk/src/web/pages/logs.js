// The log tail follows the file: every two seconds it asks for the lines the filters keep
// and, when the view was at the bottom, stays there. Lines arrive as text and are put in
// as text.
(function () {
  "use strict";
  var log = document.getElementById("log");
  var follow = document.getElementById("follow");
  var form = document.getElementById("log-filter");
  if (!log || !form || !window.fetch) {
    return;
  }
  function refresh() {
    if (!follow.checked) {
      return;
    }
    var query = new URLSearchParams({ level: form.elements.level.value, q: form.elements.q.value });
    fetch("/api/logs?" + query.toString(), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || !body.lines) {
          return;
        }
        var atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 8;
        var fragment = document.createDocumentFragment();
        body.lines.forEach(function (line) {
          var span = document.createElement("span");
          span.className = "l-" + line.level;
          span.textContent = line.text;
          fragment.appendChild(span);
          fragment.appendChild(document.createTextNode("\n"));
        });
        log.replaceChildren(fragment);
        var empty = document.getElementById("log-empty");
        if (empty && body.lines.length) {
          empty.hidden = true;
        }
        if (atBottom) {
          window.scrollTo(0, document.body.scrollHeight);
        }
      }, function () {});
  }
  window.setInterval(refresh, 2000);
})();
