// tiertrace: DSSE signing in the browser with WebCrypto Ed25519.
//
// The private key file is read here and used here; it is never sent anywhere. The editor asks the portal
// for the exact payload bytes built from the form, signs PAE(payloadType, payload) and posts only the
// envelope: {"payloadType", "payload": base64, "signatures": [{"keyid", "sig": base64}]}, the format
// `tiertrace sign` writes. WebCrypto exists only in a secure context (https, or http on localhost).
"use strict";

(function () {
  const PAYLOAD_TYPE = "application/vnd.tiertrace.declaration.v1+json";
  const encoder = new TextEncoder();

  function base64(bytes) {
    let text = "";
    const view = new Uint8Array(bytes);
    for (let i = 0; i < view.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, view.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  function fromBase64(text) {
    const normal = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = normal + "===".slice((normal.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function hex(bytes) {
    return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  // PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in bytes.
  function pae(payloadType, payload) {
    const type = encoder.encode(payloadType);
    return concat(
      encoder.encode(`DSSEv1 ${type.length} `),
      type,
      encoder.encode(` ${payload.length} `),
      payload
    );
  }

  function pemToDer(pem) {
    const match = /-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\s]+)-----END PRIVATE KEY-----/.exec(pem);
    if (!match) {
      if (/ENCRYPTED PRIVATE KEY/.test(pem)) {
        throw new Error("this key file is encrypted; use the unencrypted PEM file that tiertrace keygen writes");
      }
      throw new Error("this is not a private key file (one that starts with -----BEGIN PRIVATE KEY-----) as tiertrace keygen writes");
    }
    return fromBase64(match[1].replace(/\s+/g, ""));
  }

  async function loadKey(pemText) {
    if (!window.crypto || !window.crypto.subtle) {
      throw new Error("this browser offers no WebCrypto here: open the portal over https (or on localhost)");
    }
    let key;
    try {
      // Extractable only so that the public half can be read (JWK "x"); nothing is exported elsewhere.
      key = await crypto.subtle.importKey("pkcs8", pemToDer(pemText), { name: "Ed25519" }, true, ["sign"]);
    } catch (error) {
      if (error instanceof Error && /PEM|encrypted/.test(error.message)) throw error;
      throw new Error("the key file is not an Ed25519 private key, or this browser cannot use Ed25519 keys");
    }
    const jwk = await crypto.subtle.exportKey("jwk", key);
    const publicRaw = fromBase64(jwk.x);
    const keyid = "ed25519:" + hex(await crypto.subtle.digest("SHA-256", publicRaw));
    return { key, publicRaw, keyid };
  }

  async function signEnvelope(payloadBytes, pemText) {
    const { key, keyid } = await loadKey(pemText);
    const sig = await crypto.subtle.sign({ name: "Ed25519" }, key, pae(PAYLOAD_TYPE, payloadBytes));
    return JSON.stringify({
      payloadType: PAYLOAD_TYPE,
      payload: base64(payloadBytes),
      signatures: [{ keyid, sig: base64(sig) }],
    });
  }

  function showError(box, message) {
    box.textContent = message;
    box.hidden = false;
    box.focus();
  }

  // Post the form as its own button would (the submitter's name/value pair is not sent by submit()).
  function submitWithAction(form, value) {
    const action = document.createElement("input");
    action.type = "hidden";
    action.name = "action";
    action.value = value;
    form.appendChild(action);
    HTMLFormElement.prototype.submit.call(form);
  }

  function wireEditor(form) {
    const keyInput = form.querySelector("#key-file");
    const envelopeInput = form.querySelector("#envelope");
    const errorBox = form.querySelector("#signing-js-error");
    const button = form.querySelector("#sign-submit");
    errorBox.setAttribute("tabindex", "-1");
    form.addEventListener("submit", async (event) => {
      if (!event.submitter || !event.submitter.hasAttribute("data-sign")) return;
      event.preventDefault();
      errorBox.hidden = true;
      const file = keyInput.files && keyInput.files[0];
      if (!file) {
        showError(errorBox, "Choose your signing key file first.");
        keyInput.focus();
        return;
      }
      button.disabled = true;
      button.textContent = "Signing…";
      try {
        const fields = new FormData(form);
        fields.set("action", "payload");
        // form.action would be the buttons named "action", not the attribute: read the attribute.
        const url = form.getAttribute("action") || window.location.href;
        const answer = await fetch(url, { method: "POST", body: fields, credentials: "same-origin" });
        if (answer.status === 409 || answer.status === 422) {
          // Filing would refuse this payload: nothing is signed, the portal draws the editor with the errors.
          submitWithAction(form, "payload");
          return;
        }
        if (!answer.ok) throw new Error(`the portal could not build the payload (HTTP ${answer.status})`);
        const payload = new Uint8Array(await answer.arrayBuffer());
        envelopeInput.value = await signEnvelope(payload, await file.text());
        keyInput.value = "";
        submitWithAction(form, "submit");
      } catch (error) {
        button.disabled = false;
        button.textContent = "Sign and submit";
        showError(errorBox, `Not signed: ${error instanceof Error ? error.message : error}`);
      }
    });
  }

  // Settings: fill the public key field from a key file (the private key stays in the browser).
  function wireKeyHelper(input) {
    const target = document.getElementById(input.dataset.publicKeyTarget);
    const note = document.getElementById(input.id + "-note");
    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      if (!file) return;
      try {
        const { publicRaw, keyid } = await loadKey(await file.text());
        target.value = base64(publicRaw);
        note.textContent = `Public key read from the file (${keyid}). Press "Register key".`;
      } catch (error) {
        note.textContent = `Could not read the key: ${error instanceof Error ? error.message : error}`;
      } finally {
        input.value = "";
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("editor");
    if (form) wireEditor(form);
    document.querySelectorAll("input[data-public-key-target]").forEach(wireKeyHelper);
  });

  window.tiertraceSigning = { pae, signEnvelope, loadKey };
})();
