// keygate console: progressive enhancement of the server-rendered page.
// Without this script every form still works as a plain post; with it,
// create and roll answer in a dialog, and revoke asks in one.
"use strict";
(function () {
  const tokenMeta = document.querySelector('meta[name="csrf-token"]');
  if (!tokenMeta || !document.querySelector("table.keys")) return;
  const csrf = tokenMeta.content;
  const base = document.body.dataset.base || "";

  async function call(method, path, body) {
    const response = await fetch(base + path, {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-CSRF-Token": csrf,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let json = null;
    if (response.status !== 204) {
      try { json = await response.json(); } catch (_) { json = null; }
    }
    return { ok: response.ok, status: response.status, json };
  }

  function problemText(result) {
    if (result.json && result.json.message) return result.json.message;
    return "The request failed (" + result.status + "). Reload the page and try again.";
  }

  // The page after a change, as a fresh GET: the value is never on it.
  function reloadList() {
    window.location.assign(base === "" ? "/" : base);
  }

  // The list behind an open dialog, brought up to date without leaving the
  // page: the same page fetched again (it never holds a value), and only its
  // list put in place of ours.
  async function refreshList() {
    const here = document.getElementById("key-list");
    if (!here) return;
    try {
      const response = await fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Accept": "text/html" },
      });
      if (!response.ok) return;
      const fresh = new DOMParser()
        .parseFromString(await response.text(), "text/html")
        .getElementById("key-list");
      if (fresh) here.replaceWith(document.importNode(fresh, true));
    } catch (_) {
      // The list stays as it was; Done reloads the page anyway.
    }
  }

  // Copy buttons: the server renders them hidden; they work only with script.
  function wireCopy(button) {
    button.hidden = false;
    button.addEventListener("click", async function () {
      const input = document.getElementById(button.dataset.copy);
      if (!input) return;
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (_) {
        input.select();
        document.execCommand("copy");
      }
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    });
  }
  document.querySelectorAll("button.copy").forEach(wireCopy);

  const created = document.getElementById("created-dialog");
  function showValue(title, note, value) {
    const open = document.querySelector("details[open]");
    if (open) open.open = false;
    document.getElementById("created-title").textContent = title;
    document.getElementById("created-note").textContent = note;
    const input = document.getElementById("created-value");
    input.value = value;
    created.showModal();
    input.focus();
    input.select();
  }
  document.getElementById("created-done").addEventListener("click", function () {
    document.getElementById("created-value").value = "";
    created.close();
    reloadList();
  });
  created.addEventListener("cancel", function () {
    document.getElementById("created-value").value = "";
    reloadList();
  });

  // Create: the same form, sent as JSON; problems shown beside the fields.
  const createForm = document.getElementById("create-form");
  if (createForm) {
    createForm.addEventListener("submit", async function (event) {
      event.preventDefault();
      const data = new FormData(createForm);
      const expires = String(data.get("expires_at") || "");
      const body = {
        name: String(data.get("name") || ""),
        permissions: data.getAll("permissions").map(String),
        expires_at: expires === "" ? null : expires,
      };
      createForm.querySelectorAll("[data-problem-for]").forEach(function (p) { p.hidden = true; });
      const top = document.getElementById("create-problem");
      top.hidden = true;
      const result = await call("POST", "/api/keys", body);
      if (result.ok) {
        showValue("Your new key “" + result.json.key.name + "”",
          "Send it in the Authorization header: Bearer <key>.", result.json.value);
        refreshList();
        return;
      }
      top.textContent = problemText(result);
      top.hidden = false;
      ((result.json && result.json.errors) || []).forEach(function (problem) {
        const field = problem.field.split("[")[0];
        const slot = createForm.querySelector('[data-problem-for="' + field + '"]');
        if (slot) { slot.textContent = problem.message; slot.hidden = false; }
      });
    });
  }

  // Roll: answered with the new value in the dialog. Listened for on the
  // document, so rows put in by refreshList work too.
  document.addEventListener("submit", async function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("roll-form")) return;
    event.preventDefault();
    const grace = Number(new FormData(form).get("grace_seconds"));
    const result = await call("POST", "/api/keys/" + encodeURIComponent(form.dataset.keyId) + "/roll",
      { grace_seconds: Number.isFinite(grace) ? grace : -1 });
    if (result.ok) {
      const until = result.json.previous && result.json.previous.expires_at;
      showValue("Your new key “" + result.json.key.name + "”",
        "Rolled: the old key works until " + (until || "now") + ".", result.json.value);
      refreshList();
    } else {
      window.alert(problemText(result));
    }
  });

  // Revoke: confirmed in a dialog instead of on a page of its own.
  const revoke = document.getElementById("revoke-dialog");
  let revoking = null;
  document.addEventListener("click", function (event) {
    const link = event.target instanceof Element ? event.target.closest("a.revoke") : null;
    if (!link) return;
    event.preventDefault();
    revoking = link.dataset.keyId;
    const row = link.closest("tr");
    document.getElementById("revoke-name").textContent = row ? row.dataset.keyName : "";
    document.getElementById("revoke-problem").hidden = true;
    revoke.showModal();
  });
  document.getElementById("revoke-cancel").addEventListener("click", function () {
    revoking = null;
    revoke.close();
  });
  document.getElementById("revoke-confirm").addEventListener("click", async function () {
    if (!revoking) return;
    const result = await call("DELETE", "/api/keys/" + encodeURIComponent(revoking));
    if (result.ok) {
      revoke.close();
      reloadList();
    } else {
      const problem = document.getElementById("revoke-problem");
      problem.textContent = problemText(result);
      problem.hidden = false;
    }
  });
})();
