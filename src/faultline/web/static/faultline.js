// Faultline UI helpers. Progressive enhancement only: every page works without JavaScript.
"use strict";

(function () {
  // Copy buttons: <button data-copy="element-id">. The text is in the page already (works offline); where the
  // Clipboard API is unavailable (plain http on a LAN address is not a secure context) a hidden textarea and
  // execCommand("copy") do it.
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    return new Promise(function (resolve, reject) {
      const area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (ok) { resolve(); } else { reject(new Error("copy refused")); }
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-copy]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copy);
    if (!source) return;
    const text = "value" in source ? source.value : source.textContent.trim();
    const status = button.parentElement && button.parentElement.querySelector("[data-copy-status]");
    copyText(text).then(function () {
      button.classList.add("copied");
      if (status) status.textContent = button.dataset.copyLabel || "Copied";
      setTimeout(function () { button.classList.remove("copied"); }, 1500);
    }, function () {
      if (status) status.textContent = "Copying was refused by the browser";
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

  // Keyboard shortcuts (help: "?"). Never while typing in a field, never with a modifier key held.
  const dialog = document.getElementById("shortcuts");
  function openHelp() { if (dialog && !dialog.open) dialog.showModal(); }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) openHelp();
  });
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.issue-row")); }
  function current() { return document.querySelector("tr.issue-row.kb-current"); }
  function select(row) {
    const old = current();
    if (old) old.classList.remove("kb-current");
    if (!row) return;
    row.classList.add("kb-current");
    const link = row.querySelector("a.issue-title");
    if (link) link.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }
  function click(selector) {
    const el = document.querySelector(selector);
    if (el) { el.click(); return true; }
    return false;
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target.closest && target.closest("input, textarea, select, [contenteditable], dialog[open]")) return;
    const list = rows();
    const here = current();
    const index = here ? list.indexOf(here) : -1;
    switch (event.key) {
      case "?": openHelp(); break;
      case "j": if (list.length) select(list[Math.min(index + 1, list.length - 1)]); else return; break;
      case "k": if (list.length) select(list[Math.max(index - 1, 0)]); else return; break;
      case "o": case "Enter": {
        if (!here || event.key === "Enter" && target.closest("a, button")) return;
        const link = here.querySelector("a.issue-title");
        if (link) link.click();
        break;
      }
      case "x": {
        const box = here && here.querySelector('input[name="ids"]');
        if (!box) return;
        box.click();
        break;
      }
      case "r": {
        // The issue page's Resolve button, else the list's bulk Resolve for the ticked (or selected) issues.
        if (click('form.issue-status button[value="resolved"]')) break;
        const ticked = document.querySelectorAll('input[name="ids"]:checked').length;
        if (!ticked && here) { const box = here.querySelector('input[name="ids"]'); if (box) box.checked = true; }
        if (!click('#bulk-form button[value="resolve"]')) return;
        break;
      }
      case "a": {
        const menu = document.getElementById("assignee") || document.getElementById("bulk-assignee");
        if (!menu) return;
        menu.focus();
        break;
      }
      case "/": {
        const search = document.getElementById("q") || document.getElementById("merge-q");
        if (!search) return;
        search.focus();
        break;
      }
      default: return;
    }
    event.preventDefault();
  });
})();
