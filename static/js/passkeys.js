// Passkey ceremonies (WebAuthn) for the buttons the server renders; no build step, no inline script.
//
// A button says what it does in data attributes:
//   data-passkey="register | sign-in | second-factor | sudo"
//   data-options-url, data-verify-url   the two JSON endpoints of the ceremony (POST)
//   data-csrf-token                     sent as the x-csrftoken header
//   data-next                           where to go afterwards (the server checks it)
//   data-trust-field                    name of a checkbox whose state is sent as trust_browser
// A verify answers {"redirect": path}, {"replay": {path, fields}} (a form sudo interrupted, to send
// on) or, with a 4xx, {"error": message[, "redirect": path]}.
//   data-conditional="true"             also offer passkeys in the email field's autofill
// Buttons start hidden: without JavaScript (or WebAuthn) the page's note offers the other ways in.
// Progress and errors are written to the [data-passkey-status] live region of the button's block.
(function () {
  "use strict";

  if (window.gatehousePasskeys) {
    return; // a page that includes two passkey partials loads this file twice
  }
  window.gatehousePasskeys = true;

  var WAITING = "Waiting for your passkey…";
  var CHECKING = "Checking…";
  var GENERIC = "Something went wrong. Please try again.";
  var conditional = null; // the AbortController of a pending autofill request

  // --- base64url and the JSON forms of WebAuthn's options and credentials

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var padded = base64 + "===".slice((base64.length + 3) % 4);
    var binary = atob(padded);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      user: Object.assign({}, json.user, { id: toBytes(json.user.id) }),
      excludeCredentials: descriptors(json.excludeCredentials),
    });
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    return Object.assign({}, json, {
      challenge: toBytes(json.challenge),
      allowCredentials: descriptors(json.allowCredentials),
    });
  }

  function credentialJSON(credential) {
    if (typeof credential.toJSON === "function") {
      return credential.toJSON();
    }
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) },
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) {
        json.response.userHandle = toText(response.userHandle);
      }
    }
    return json;
  }

  // --- talking to the server

  function ServerError(message, redirect) {
    this.name = "ServerError";
    this.message = message;
    this.redirect = redirect;
  }

  // POST `body` as JSON; the parsed answer. A guard that redirected (sign in again, confirm it is
  // you) is followed by the whole page, and null is returned.
  function post(url, token, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", accept: "application/json", "x-csrftoken": token },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      if (response.redirected) {
        window.location.assign(response.url);
        return null;
      }
      var isJSON = (response.headers.get("content-type") || "").indexOf("application/json") === 0;
      if (!isJSON) {
        throw new ServerError(response.status === 429 ? "Too many attempts. Please wait a minute." : GENERIC);
      }
      return response.json().then(function (data) {
        if (!response.ok) {
          throw new ServerError(data.error || GENERIC, data.redirect);
        }
        return data;
      });
    });
  }

  // --- what the user sees

  function statusOf(button) {
    var block = button.closest("[data-passkey-block]");
    return block ? block.querySelector("[data-passkey-status]") : null;
  }

  function say(button, text, isError) {
    var status = statusOf(button);
    if (status) {
      status.textContent = text;
      status.classList.toggle("passkey-status-error", Boolean(isError));
    }
  }

  function explain(error) {
    if (error instanceof ServerError) {
      return error.message;
    }
    if (error && error.name === "NotAllowedError") {
      return "No passkey was used: the request was cancelled or timed out.";
    }
    if (error && error.name === "InvalidStateError") {
      return "This device already holds a passkey for your account.";
    }
    if (error && error.name === "SecurityError") {
      return "Passkeys do not work on this address of the site.";
    }
    return GENERIC;
  }

  // --- the ceremonies

  function trustBrowser(button) {
    var name = button.dataset.trustField;
    var box = name ? document.querySelector('input[name="' + name + '"]') : null;
    return Boolean(box && box.checked);
  }

  function ask(button, options, signal) {
    if (button.dataset.passkey === "register") {
      return navigator.credentials.create({ publicKey: creationOptions(options) });
    }
    var request = { publicKey: requestOptions(options) };
    if (signal) {
      request.mediation = "conditional";
      request.signal = signal;
    }
    return navigator.credentials.get(request);
  }

  function finish(button, credential) {
    say(button, CHECKING);
    return post(button.dataset.verifyUrl, button.dataset.csrfToken, {
      credential: credentialJSON(credential),
      next: button.dataset.next || "",
      trust_browser: trustBrowser(button),
    }).then(function (answer) {
      if (answer && answer.replay) {
        resend(answer.replay, button.dataset.csrfToken);
      } else if (answer && answer.redirect) {
        window.location.assign(answer.redirect);
      }
    });
  }

  // Sudo interrupted a form: send it on, as it was, now that the session may (the server kept it
  // sealed to this session and checked its path).
  function resend(replay, token) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = replay.path;
    form.hidden = true;
    [["_csrf_token", token]].concat(replay.fields).forEach(function (field) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = field[0];
      input.value = field[1];
      form.appendChild(input);
    });
    document.body.appendChild(form);
    form.submit();
  }

  function fail(button, error) {
    if (error instanceof ServerError && error.redirect) {
      window.location.assign(error.redirect);
      return;
    }
    say(button, explain(error), true);
  }

  function run(button) {
    stopConditional();
    button.disabled = true;
    say(button, WAITING);
    post(button.dataset.optionsUrl, button.dataset.csrfToken)
      .then(function (options) {
        if (!options) {
          return null;
        }
        return ask(button, options).then(function (credential) {
          return finish(button, credential);
        });
      })
      .catch(function (error) {
        fail(button, error);
        startConditional(); // the autofill offer comes back after a failed attempt
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  // --- conditional UI: the browser offers passkeys in the email field's autofill

  function conditionalButton() {
    return document.querySelector('[data-passkey][data-conditional="true"]');
  }

  function stopConditional() {
    if (conditional) {
      conditional.abort();
      conditional = null;
    }
  }

  function startConditional() {
    var button = conditionalButton();
    if (!button || conditional || !PublicKeyCredential.isConditionalMediationAvailable) {
      return;
    }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available || conditional) {
        return;
      }
      var controller = new AbortController();
      conditional = controller;
      post(button.dataset.optionsUrl, button.dataset.csrfToken)
        .then(function (options) {
          if (!options || controller.signal.aborted) {
            return null;
          }
          button.dataset.conditionalState = "pending"; // the autofill now offers passkeys
          return ask(button, options, controller.signal).then(function (credential) {
            button.dataset.conditionalState = "used";
            return finish(button, credential);
          });
        })
        .catch(function (error) {
          button.dataset.conditionalState = "failed";
          // The offer runs in the background: only a passkey the user picked and the server
          // refused is worth a message. Anything else (the button took over, the page is going
          // away, passkeys do not work on this address) leaves the page as it was.
          if (error instanceof ServerError && !controller.signal.aborted) {
            fail(button, error);
          }
        })
        .finally(function () {
          if (conditional === controller) {
            conditional = null;
          }
        });
    });
  }

  // --- start

  function setUp() {
    var buttons = document.querySelectorAll("[data-passkey]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      document.querySelectorAll("[data-passkey-unsupported]").forEach(function (note) {
        note.hidden = false;
      });
      return;
    }
    buttons.forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        run(button);
      });
    });
    startConditional();
  }

  setUp();
})();
