// Package carrier is the sms.Driver for SMS carriers with an HTTP API:
// Twilio, Telnyx, Kannel (and any gateway like it) through built-in presets,
// and any other HTTP API (Vonage, Plivo, ...) through a templated "http"
// configuration.
//
// It owns both directions of the conversation with the carrier:
//
//   - Sending (Driver.Send): building the carrier's request, and reading its
//     answer into the one question package sms asks, "might the text have
//     gone out?". A request that certainly never left is Temporary; one the
//     carrier refused is Rejected, OptedOut or NotMobile by its error code;
//     one that may have reached the carrier (a timeout or a reset after the
//     request was written, an ambiguous 5xx, an answer it cannot read) is
//     Unknown. The driver never retries: the core's outbox retries Temporary
//     texts with capped, jittered backoff and honours RetryAfter.
//   - Receiving (Driver.Handler): the carrier's webhooks for replies and
//     delivery reports, each verified (Twilio's HMAC-SHA1 signature, Telnyx's
//     ed25519 signature and timestamp window, a secret token for Kannel and
//     templated carriers) before anything reaches the sms.Receiver, and
//     acknowledged only once the receiver has recorded it.
//   - Checking credentials without sending (Driver.Check), where the API
//     allows it.
//
// Credentials never appear in errors or logs: errors name the request by
// method, host and path only, and every configured secret is scrubbed from
// what carriers answer.
//
// The package knows nothing of calls, lines or consent: it does not import
// package ledger. It turns carrier error codes into sms Outcomes; what an
// opt-out or a landline means for a number is the core's business.
package carrier
