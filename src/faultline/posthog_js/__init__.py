"""posthog-js builds served from Faultline itself, so the SDK's lazy-loaded parts work against a self-hosted server.

posthog-js's HTML snippet loads `<api_host>/static/array.js`, and the snippet and npm-module builds lazy-load their
extensions (exception autocapture first of all) from `<api_host>/static/<version>/<name>.js`, falling back to
`/static/<name>.js?v=<version>`. PostHog serves these from its CDN; Faultline serves the files of posthog-js
versions an administrator installed into `FAULTLINE_POSTHOG_JS_DIR` (`faultline posthog-js install`), never files
committed to this repository.
"""
