// Inlined into every page (allowed by its hash in the CSP): the site's only script besides htmx. Everything works
// without it; it adds (1) a message in the page when htmx meets a network or server error instead of failing
// silently, (2) GOV.UK's error-summary links, which bring the question's legend or label into view with the field,
// (3) the "Copy link" button on the continue-later page, (4) follow-up questions shown only with the answer they
// follow (the voicemail question with "By phone"), (5) the "Print or save as PDF" button, (6) "None of these"
// boxes that untick the others and (7) staff passkeys (WebAuthn): the server sends the options and checks the
// answer; this only carries bytes between it and the browser.
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

  function errorSummaryLink(link) {
    var target = document.getElementById(decodeURIComponent(link.hash.slice(1)));
    if (!target) { return false; }
    var field = /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) ? target : target.querySelector("input, select, textarea");
    if (!field) { return false; }
    var fieldset = field.closest("fieldset");
    var legend = fieldset && fieldset.querySelector("legend");
    var label = legend || document.querySelector("label[for='" + field.id + "']");
    (label || field).scrollIntoView();
    field.focus({ preventScroll: true });
    return true;
  }

  function copyLink(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = document.getElementById(button.getAttribute("data-copy") + "-status");
    if (!field) { return; }
    function done(copied) {
      if (status) {
        // The words are the page's, in its language (data-copied / data-not-copied on the status line).
        status.textContent = status.getAttribute(copied ? "data-copied" : "data-not-copied");
      }
    }
    function fallback() {
      field.focus();
      field.select();
      var copied = false;
      try { copied = document.execCommand("copy"); } catch (e) { copied = false; }
      done(copied);
    }
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done(true); }, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(".error-summary a[href^='#']");
    if (link && errorSummaryLink(link)) { event.preventDefault(); return; }
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (button) { copyLink(button); return; }
    if (event.target.closest && event.target.closest("button[data-print]")) { window.print(); return; }
    var key = event.target.closest && event.target.closest("button[data-passkey]");
    if (key) { passkey(key); }
  });

  function b64(buffer) {
    var text = "", bytes = new Uint8Array(buffer);
    for (var i = 0; i < bytes.length; i++) { text += String.fromCharCode(bytes[i]); }
    return btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function unb64(text) {
    var raw = atob(text.replace(/-/g, "+").replace(/_/g, "/")), bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
    return bytes.buffer;
  }
  function postJSON(url, token, body) {
    return fetch(url, { method: "POST", credentials: "same-origin", body: JSON.stringify(body || {}),
      headers: { "Content-Type": "application/json", "X-CSRFToken": token } }).then(function (r) { return r.json(); });
  }
  // <button data-passkey="create|get" data-options=URL data-verify=URL data-csrf=TOKEN data-status=ID>: the
  // server's answer is {redirect: URL} (go there) or {error: text} (said in the status element).
  function passkey(button) {
    var creating = button.getAttribute("data-passkey") === "create", token = button.getAttribute("data-csrf");
    var status = document.getElementById(button.getAttribute("data-status"));
    var nameField = document.getElementById(button.getAttribute("data-name") || "");
    function say(text) { if (status) { status.textContent = text || button.getAttribute("data-failed"); } }
    function done(answer) {
      if (answer && answer.redirect) { window.location.assign(answer.redirect); return true; }
      if (answer) { say(answer.error); }
      return false;
    }
    postJSON(button.getAttribute("data-options"), token).then(function (options) {
      if (!options || options.redirect || options.error) { done(options); return null; }
      options.challenge = unb64(options.challenge);
      if (options.user) { options.user.id = unb64(options.user.id); }
      (options.excludeCredentials || options.allowCredentials || []).forEach(function (c) { c.id = unb64(c.id); });
      return creating ? navigator.credentials.create({ publicKey: options }) : navigator.credentials.get({ publicKey: options });
    }).then(function (credential) {
      if (!credential) { return null; }
      var r = credential.response, body = { id: credential.id, rawId: b64(credential.rawId), type: credential.type,
        response: { clientDataJSON: b64(r.clientDataJSON) } };
      if (creating) {
        body.response.attestationObject = b64(r.attestationObject);
        body.name = nameField ? nameField.value : "";
      } else {
        body.response.authenticatorData = b64(r.authenticatorData);
        body.response.signature = b64(r.signature);
        if (r.userHandle) { body.response.userHandle = b64(r.userHandle); }
      }
      return postJSON(button.getAttribute("data-verify"), token, body).then(done);
    }).catch(function () { say(); });
  }

  // The Copy and Print buttons need this script, so they are hidden in the markup and shown here.
  function reveal(root) {
    var buttons = root && root.querySelectorAll ? root.querySelectorAll("button[data-copy][hidden], button[data-print][hidden]") : [];
    for (var i = 0; i < buttons.length; i++) { buttons[i].hidden = false; }
    if (window.PublicKeyCredential && root && root.querySelectorAll) {  // passkeys only where the browser has them
      var keys = root.querySelectorAll("button[data-passkey][hidden], [data-passkey-add][hidden]");
      for (var k = 0; k < keys.length; k++) { keys[k].hidden = false; }
    }
  }
  // A wrapper with data-shown-with="contact_by=phone" is shown only while that choice is checked in its form.
  // Without this script it is always shown, and its own words say when it applies.
  function followUps() {
    var wrappers = document.querySelectorAll("[data-shown-with]");
    for (var i = 0; i < wrappers.length; i++) {
      var rule = wrappers[i].getAttribute("data-shown-with").split("=");
      var form = wrappers[i].closest("form");
      var chosen = form && form.querySelector("input[name='" + rule[0] + "']:checked");
      wrappers[i].hidden = !(chosen && chosen.value === rule[1]);
    }
  }
  // "None of these" (data-exclusive) and the signs it excludes: ticking one side unticks the other.
  function exclusiveBoxes(box) {
    if (!box.checked || !box.form) { return; }
    var boxes = box.form.querySelectorAll("input[type=checkbox]");
    for (var i = 0; i < boxes.length; i++) {
      var other = boxes[i];
      if (other !== box && other.name === box.name && (box.hasAttribute("data-exclusive") || other.hasAttribute("data-exclusive"))) {
        other.checked = false;
      }
    }
  }
  document.addEventListener("change", function (event) {
    if (event.target && event.target.type === "radio") { followUps(); }
    if (event.target && event.target.type === "checkbox") { exclusiveBoxes(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () { reveal(document); followUps(); });
  document.addEventListener("htmx:load", function (event) { reveal(event.target); followUps(); });
})();
