// Package sinch speaks the Sinch Conversation API wire format: it decodes the
// webhook callbacks Sinch posts to the connector (DecodeCallback) and checks
// their HMAC signature (VerifySignature).
//
// A callback body carries no trigger field; the trigger is the top-level key
// that is present ("message", "message_delivery_report", ...). DecodeCallback
// works it out, decodes the triggers the connector acts on into typed structs
// and keeps the raw JSON object of every trigger in Callback.Payload.
//
// Decoding is lenient where Sinch is loose: unknown fields and unknown
// triggers are tolerated, enums (status, processing_mode, reason codes) stay
// plain strings, and timestamps accept any fractional precision as well as
// "" or an absent value (the zero time). Only a body that is not a JSON
// object, or a known field of the wrong JSON type, is rejected, with an error
// wrapping ErrMalformedCallback.
//
// Signatures are computed over the raw body bytes, never over re-encoded
// JSON. Timestamp freshness and nonce replay are left to the caller, which
// owns the clock and the nonce store.
//
// The REST side is Client (messages:send, and the message listing used for
// reconciliation, on the region's base URL or an override, with typed
// APIError classification for retries) over a shared TokenCache (OAuth2
// client credentials, refreshed before expiry, one refresh in flight per
// key). The emulator subpackage is a fake Sinch for dev and tests.
package sinch
