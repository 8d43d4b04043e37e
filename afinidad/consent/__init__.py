"""Consent per profile and purpose. Every capability that uses a person's data asks
`afinidad.consent.service.may_use` first; `purposes` holds what is pure (purposes, defaults, parsing)."""
