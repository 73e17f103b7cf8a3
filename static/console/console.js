// The console's only script: it enhances, the pages work without it.
document.documentElement.classList.add("js");
// Copy buttons: <button type="button" data-copy="id-of-element">.
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button || !navigator.clipboard) { return; }
  var source = document.getElementById(button.getAttribute("data-copy"));
  if (source) { navigator.clipboard.writeText(source.textContent.trim()); button.setAttribute("data-copied", "1"); }
});
