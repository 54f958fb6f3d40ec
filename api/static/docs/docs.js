// Starts Swagger UI on this API's own OpenAPI document. A file of its own, not an inline
// script, so the page's Content-Security-Policy can stay script-src 'self'.
"use strict";

window.addEventListener("DOMContentLoaded", () => {
  window.ui = SwaggerUIBundle({
    // Relative to .../docs: /openapi.json, or /dev/openapi.json under an API Gateway stage.
    url: new URL("openapi.json", document.baseURI).href,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // No call to the public validator service: nothing leaves for a third-party host.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
