// Inlined into every page (allowed by its hash in the CSP). htmx would otherwise fail silently
// when the network drops or the server errs; this shows a message in the page instead.
(function () {
  function show(text) {
    var box = document.getElementById("page-error");
    if (!box) { return; }
    box.textContent = text || box.getAttribute("data-offline");
    box.hidden = false;
    box.focus();
  }
  document.addEventListener("htmx:sendError", function () { show(); });
  document.addEventListener("htmx:timeout", function () { show(); });
  document.addEventListener("htmx:responseError", function () {
    var box = document.getElementById("page-error");
    show(box && box.getAttribute("data-server"));
  });
  document.addEventListener("htmx:beforeRequest", function () {
    var box = document.getElementById("page-error");
    if (box) { box.hidden = true; }
  });
})();
