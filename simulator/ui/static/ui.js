// The dashboard's only script: live parts by server-sent events. An element with
// data-live="<url>" is replaced by each `fragment` event; `end` (the server's time limit)
// closes the stream instead of letting EventSource reconnect forever.
(function () {
  "use strict";
  document.querySelectorAll("[data-live]").forEach(function (target) {
    var source = new EventSource(target.getAttribute("data-live"));
    var badge = document.getElementById("live-state");
    source.addEventListener("open", function () {
      if (badge) { badge.textContent = "live"; badge.className = "badge live"; }
    });
    source.addEventListener("fragment", function (event) {
      // never replace a field someone is typing in; the next change brings it up to date
      if (target.contains(document.activeElement) && document.activeElement.form) { return; }
      target.innerHTML = event.data;
      target.setAttribute("data-updates", String(Number(target.getAttribute("data-updates") || 0) + 1));
    });
    source.addEventListener("end", function () {
      source.close();
      if (badge) { badge.textContent = "paused (reload to resume)"; badge.className = "badge"; }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  });
})();
