// Hand-written, dependency-free: tooltips and "jump to the first error" for the linearizability
// view. The page is complete without it; any script error is shown on the page, not hidden.
(function () {
  "use strict";
  var errors = document.getElementById("js-errors");
  function showError(message) {
    errors.hidden = false;
    var line = document.createElement("div");
    line.textContent = "report script error: " + message;
    errors.appendChild(line);
  }
  window.addEventListener("error", function (e) { showError(e.message); });

  var data = JSON.parse(document.getElementById("report-data").textContent);
  var tip = document.getElementById("tooltip");

  function render(details) {
    var table = document.createElement("table");
    Object.keys(details).forEach(function (name) {
      var row = table.insertRow();
      row.insertCell().textContent = name;
      var v = details[name];
      row.insertCell().textContent = typeof v === "string" ? v : JSON.stringify(v);
    });
    tip.replaceChildren(table);
  }

  document.querySelectorAll(".lin-scroll").forEach(function (box) {
    var details = data.details[box.dataset.anchor] || {};
    box.addEventListener("mousemove", function (e) {
      var op = e.target.closest(".op");
      if (!op || !details[op.dataset.i]) { tip.hidden = true; return; }
      render(details[op.dataset.i]);
      tip.hidden = false;
      var x = Math.min(e.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
      var y = e.clientY + 16 + tip.offsetHeight > window.innerHeight ? e.clientY - tip.offsetHeight - 12 : e.clientY + 16;
      tip.style.left = x + "px";
      tip.style.top = y + "px";
    });
    box.addEventListener("mouseleave", function () { tip.hidden = true; });
    // Open each view on its first error rather than on the start of the history.
    var first = document.getElementById(box.dataset.anchor);
    if (first) {
      var b = first.getBoundingClientRect(), c = box.getBoundingClientRect();
      box.scrollLeft += b.left - c.left - (c.width - b.width) / 2;
    }
  });

  document.querySelectorAll("a.jump").forEach(function (link) {
    link.addEventListener("click", function (e) {
      var target = document.getElementById(link.getAttribute("href").slice(1));
      if (!target) { return; }
      e.preventDefault();
      target.scrollIntoView({ block: "center", inline: "center" });
      target.classList.add("flash");
      setTimeout(function () { target.classList.remove("flash"); }, 1500);
      history.replaceState(null, "", link.getAttribute("href"));
    });
  });
  document.body.dataset.rendered = "yes";
})();
