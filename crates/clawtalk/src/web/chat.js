// WebChat (and continuing a conversation from its transcript page): sends the message
// without leaving the page, shows the answer as the agent writes
// it (server-sent events carry it as HTML the server rendered and escaped), shows a tool
// call waiting for approval as buttons (Allow once / Always allow / Deny) inside the answer,
// and stops the turn on request. Without this script the form posts to /chat and waits for
// the answer.
(function () {
  "use strict";
  var form = document.getElementById("chat-form");
  if (!form || !window.fetch || !window.EventSource) {
    return;
  }
  var transcript = document.getElementById("transcript");
  var sendButton = document.getElementById("send");
  var stopButton = document.getElementById("stop");
  var errorBox = document.getElementById("chat-live-error");

  function post(url, fields) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(fields).toString()
    }).then(function (response) {
      return response.json().then(
        function (body) { return { ok: response.ok, body: body }; },
        function () { return { ok: false, body: { error: form.dataset.refused } }; }
      );
    });
  }

  function bubble(role, label) {
    var div = document.createElement("div");
    div.className = "msg " + role;
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = label;
    div.appendChild(who);
    transcript.appendChild(div);
    return div;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = false;
  }

  // The waiting call's box inside the answer: its title, the call in words, its buttons.
  // A press posts the decision; the box then says what was decided and by whom.
  function showApproval(answer, approval) {
    var box = answer.querySelector(".approval");
    if (!approval) {
      if (box && !box.dataset.decided) {
        box.remove();
      }
      return;
    }
    if (box && box.dataset.id === approval.id) {
      return;
    }
    if (box) {
      box.remove();
    }
    box = document.createElement("div");
    box.className = "approval";
    box.dataset.id = approval.id;
    var title = document.createElement("strong");
    title.textContent = approval.title;
    box.appendChild(title);
    var call = document.createElement("div");
    call.className = "md";
    call.innerHTML = approval.html;
    box.appendChild(call);
    var buttons = document.createElement("p");
    var status = document.createElement("span");
    status.className = "muted approval-status";
    approval.buttons.forEach(function (b) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = b.decision === "deny" ? "secondary" : "";
      button.dataset.decision = b.decision;
      button.textContent = b.label;
      button.addEventListener("click", function () {
        buttons.querySelectorAll("button").forEach(function (x) { x.disabled = true; });
        post("/api/chat/approve", {
          csrf: form.elements.csrf.value,
          id: approval.id,
          decision: b.decision
        }).then(function (result) {
          if (!result.ok) {
            showError(result.body.error);
            buttons.querySelectorAll("button").forEach(function (x) { x.disabled = false; });
            return;
          }
          box.dataset.decided = result.body.status;
          status.textContent = result.body.text;
          buttons.querySelectorAll("button").forEach(function (x) { x.remove(); });
        });
      });
      buttons.appendChild(button);
      buttons.appendChild(document.createTextNode(" "));
    });
    buttons.appendChild(status);
    box.appendChild(buttons);
    answer.insertBefore(box, answer.querySelector(".md"));
  }

  function idle() {
    sendButton.disabled = false;
    stopButton.hidden = true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = form.elements.message.value.trim();
    if (!text) {
      return;
    }
    errorBox.hidden = true;
    sendButton.disabled = true;
    post("/api/chat/send", new FormData(form)).then(function (result) {
      if (!result.ok) {
        showError(result.body.error);
        idle();
        return;
      }
      var mine = bubble("user", form.dataset.you);
      mine.appendChild(document.createTextNode(text));
      form.elements.message.value = "";
      var answer = bubble("assistant live", form.dataset.agent);
      answer.id = "live-answer";
      var tool = document.createElement("span");
      tool.className = "muted tool";
      tool.textContent = form.dataset.thinking;
      answer.appendChild(tool);
      var body = document.createElement("div");
      body.className = "md";
      answer.appendChild(body);
      stopButton.hidden = false;
      var events = new EventSource("/api/chat/stream/" + encodeURIComponent(result.body.id));
      events.addEventListener("text", function (e) {
        var data = JSON.parse(e.data);
        body.innerHTML = data.html;
        tool.textContent = data.tool || "";
        showApproval(answer, data.approval);
      });
      events.addEventListener("done", function () {
        events.close();
        window.location.replace(form.dataset.after);
      });
      events.addEventListener("failed", function (e) {
        events.close();
        tool.textContent = "";
        showError(JSON.parse(e.data).error);
        idle();
      });
    }, function () {
      showError(form.dataset.refused);
      idle();
    });
  });

  stopButton.addEventListener("click", function () {
    stopButton.disabled = true;
    var fields = new FormData(form);
    fields.delete("message");
    post("/api/chat/stop", fields).then(function (result) {
      stopButton.disabled = false;
      if (!result.ok) {
        showError(result.body.error);
      }
    });
  });
})();
