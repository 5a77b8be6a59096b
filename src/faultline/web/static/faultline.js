// Faultline UI helpers. Progressive enhancement only: every page works without JavaScript.
"use strict";

(function () {
  // Copy buttons: <button data-copy="element-id">.
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.classList.add("copied");
      setTimeout(function () { button.classList.remove("copied"); }, 1500);
    });
  });

  // Destructive forms ask first: <form data-confirm="…">.
  document.addEventListener("submit", function (event) {
    const form = event.target;
    const submitter = event.submitter;
    const message = (submitter && submitter.dataset.confirm) || form.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // A checkbox that disables a block of inputs while checked: <input data-toggle-disable="element-id">.
  function syncToggle(box) {
    const target = document.getElementById(box.dataset.toggleDisable);
    if (!target) return;
    target.toggleAttribute("data-disabled", box.checked);
    target.querySelectorAll("input, select, button").forEach(function (el) { el.disabled = box.checked; });
  }
  document.querySelectorAll("input[data-toggle-disable]").forEach(function (box) {
    syncToggle(box);
    box.addEventListener("change", function () { syncToggle(box); });
  });

  // Close <details class="menu"> when clicking elsewhere (menus open on tap, never on hover).
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.menu[open]").forEach(function (menu) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    });
  });
})();
