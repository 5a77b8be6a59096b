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

  // Bulk selection: <input data-select-all="ids"> toggles every checkbox named "ids" in its form.
  document.addEventListener("change", function (event) {
    const box = event.target;
    if (!(box instanceof HTMLInputElement)) return;
    const form = box.form;
    if (!form) return;
    if (box.dataset.selectAll) {
      form.querySelectorAll('input[type="checkbox"][name="' + box.dataset.selectAll + '"]').forEach(function (other) {
        other.checked = box.checked;
      });
    }
    const counter = form.querySelector("[data-selected-count]");
    if (counter && (box.dataset.selectAll || box.name === "ids")) {
      const picked = form.querySelectorAll('input[type="checkbox"][name="ids"]:checked').length;
      if (!counter.dataset.total) counter.dataset.total = counter.textContent;
      counter.textContent = picked ? picked + " selected" : counter.dataset.total;
    }
  });

  // Rule filter editor: add and remove condition rows (without JavaScript one blank row is always offered).
  document.addEventListener("click", function (event) {
    const add = event.target.closest("[data-add-row]");
    if (add) {
      const list = add.parentElement.querySelector("[data-filter-rows]");
      const rows = list ? list.querySelectorAll("[data-filter-row]") : [];
      if (!rows.length) return;
      const fresh = rows[rows.length - 1].cloneNode(true);
      fresh.querySelectorAll("input").forEach(function (input) { input.value = ""; input.removeAttribute("aria-invalid"); });
      fresh.querySelectorAll(".field-error").forEach(function (node) { node.remove(); });
      list.appendChild(fresh);
      const key = fresh.querySelector('input[name="key"]');
      if (key) key.focus();
      return;
    }
    const remove = event.target.closest("[data-remove-row]");
    if (remove) {
      const row = remove.closest("[data-filter-row]");
      const list = row && row.parentElement;
      if (!row || !list) return;
      if (list.querySelectorAll("[data-filter-row]").length > 1) {
        row.remove();
      } else {
        row.querySelectorAll("input").forEach(function (input) { input.value = ""; });
      }
    }
  });
})();
