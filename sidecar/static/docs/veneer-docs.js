/* veneer API docs: starts Swagger UI or ReDoc on the prefix's openapi.json.
 *
 * A token given as #token=... (or ?access_token=... where the server accepts
 * query tokens) is sent as "Authorization: Bearer" with the spec request and, in
 * Swagger UI, pre-filled in the Authorize dialog; it is then removed from the
 * address bar so it does not linger in history or screenshots. Nothing is
 * stored in localStorage. No request leaves this origin.
 */
(function () {
  "use strict";
  var root = document.getElementById("veneer-docs");
  var ui = root.getAttribute("data-ui");
  var specUrl = root.getAttribute("data-spec-url");
  var query = new URLSearchParams(window.location.search);
  var hash = new URLSearchParams(window.location.hash.replace(/^#/, ""));
  var queryParam = root.getAttribute("data-query-param");  // set only where the server reads query tokens
  var token = hash.get("token") || (queryParam && query.get(queryParam));
  if (token && window.history && window.history.replaceState) {
    if (queryParam) { query.delete(queryParam); }
    hash.delete("token");
    var q = query.toString(), h = hash.toString();
    window.history.replaceState(null, "", window.location.pathname + (q ? "?" + q : "") + (h ? "#" + h : ""));
  }
  var authHeaders = token ? { Authorization: "Bearer " + token } : {};

  function showError(message) {
    var box = document.createElement("pre");
    box.className = "veneer-docs-error";
    box.textContent = message;
    document.body.insertBefore(box, document.body.firstChild);
  }

  if (ui === "swagger") {
    var swagger = window.SwaggerUIBundle({
      url: specUrl,
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      validatorUrl: null,            // the default validator is a public web service
      persistAuthorization: false,
      tryItOutEnabled: false,
      requestInterceptor: function (req) {
        if (token && !req.headers.Authorization) {
          req.headers.Authorization = "Bearer " + token;
        }
        return req;
      },
      onComplete: function () {
        if (token) {
          swagger.preauthorizeApiKey("bearer", token);
        }
      }
    });
    window.veneerDocs = swagger;
  } else {
    fetch(specUrl, { headers: authHeaders, credentials: "same-origin" })
      .then(function (r) {
        if (!r.ok) {
          return r.text().then(function (t) { throw new Error(specUrl + " answered " + r.status + ": " + t); });
        }
        return r.json();
      })
      .then(function (spec) {
        window.Redoc.init(spec, { hideDownloadButton: false, expandResponses: "200" },
                          document.getElementById("redoc"));
      })
      .catch(function (e) { showError(String(e)); });
  }
})();
