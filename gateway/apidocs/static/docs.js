// Swagger UI on the public API's contract (/api/v1/openapi.json), from this origin only.
//
// A file of its own, not an inline script: the page's Content-Security-Policy allows
// scripts from this origin and nothing else. "Authorize" takes the access token of
// POST /api/v1/auth/token (bearerAuth) or an API key; "Try it out" then sends it.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = window.SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The token stays in this page's memory: nothing is written to storage.
    persistAuthorization: false,
    displayRequestDuration: true,
    filter: true,
    // Never send the document to swagger.io's online validator.
    validatorUrl: null,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
