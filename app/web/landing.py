"""Where signing in lands: one path, answered by the org dashboard or, without orgs, the settings."""

LANDING_PATH = "/dashboard"
"""The core's `after_login` page. The organizations' dashboard answers it when FEATURE_ORGS is on,
`app.web.routes.AccountLandingController` (into the account's settings) when it is off."""
