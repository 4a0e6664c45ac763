// Live updates for the inbox: poll a fingerprint of what the page shows
// and, when it changes, reload (or, while a reply is being typed, say so).
(function () {
  "use strict";
  var url = document.body.getAttribute("data-poll");
  if (!url || !window.fetch) { return; }
  var seen = document.body.getAttribute("data-v");
  function typing() {
    var b = document.getElementById("body");
    return b && b.value.trim() !== "";
  }
  function check() {
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (d) {
      if (!d) { return; }
      if (d.v !== seen) {
        if (typing()) { document.getElementById("live").hidden = false; seen = d.v; }
        else { window.location.reload(); }
      }
    }).catch(function () {});
  }
  check();
  setInterval(check, 3000);
})();
