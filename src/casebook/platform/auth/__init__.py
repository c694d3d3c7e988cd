"""One identity across systems: users, passwords, tokens and API keys.

- `deps`: `Principal`, `current_principal`, `optional_principal`, `require_scope`,
  `CurrentPrincipal` — who is calling, for every endpoint.
- `service`: `register_user`, `authenticate`, `refresh`, `logout`, `create_api_key`,
  `list_api_keys`, `revoke_api_key` — plain async functions on an `AsyncSession`.
- `cookies`: `set_session_cookies` / `clear_session_cookies` for the web login pages.
- `api`: the `/api/auth` router.
"""
