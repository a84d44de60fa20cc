// Package emulator is a fake Sinch Conversation API for development, tests
// and benchmarks, where the real Sinch cannot be reached.
//
// It serves Sinch's own endpoints with their wire format:
//
//	POST   /oauth2/token                                 OAuth2 client credentials
//	POST   [/{eu|us|br}]/v1/projects/{project}/messages:send
//	GET    [/{eu|us|br}]/v1/projects/{project}/messages  list stored messages
//	GET    [/{eu|us|br}]/v1/projects/{project}/apps/{app}
//	GET    [/{eu|us|br}]/v1/projects/{project}/apps/{app}/webhooks
//	POST   [/{eu|us|br}]/v1/projects/{project}/webhooks
//	GET|PATCH|DELETE [/{eu|us|br}]/v1/projects/{project}/webhooks/{id}
//
// and posts MESSAGE_DELIVERY and MESSAGE_INBOUND callbacks to every webhook
// of the app whose triggers include the callback's, each signed with that
// webhook's secret, retrying non-2xx answers and timeouts on a schedule.
// The listing holds the app's sends and the contact messages the emulator
// generated, subject to the app's processing mode and dispatch retention.
// Media sends really fetch the URL and follow the WhatsApp attachment matrix
// of the Sinch V2 setup guide (JPG/PNG image, MP3 audio, MP4 video,
// PDF/CSV/DLL document; GIF/DOC fail with CHANNEL_FAILURE, WAV/EXE with
// BAD_REQUEST; size limits give MEDIA_TOO_LARGE).
//
// The emulator's own API drives the customer side and failure injection:
//
//	POST  /emulator/apps                  register an app (App)
//	GET   /emulator/apps/{app}            the app, secrets left out
//	PATCH /emulator/apps/{app}            mode, channels, ... (AppUpdate)
//	POST  /emulator/apps/{app}/inbound    a contact writes (Inbound)
//	GET   /emulator/apps/{app}/outbox     what the app sent (OutboxItem)
//	POST  /emulator/apps/{app}/faults     inject failures (Fault)
//	GET   /emulator/media/{name}          sample files (sample.jpg, big.jpg?mb=6, ...)
//	GET   /emulator/healthz
//
// Everything is kept in memory and, with Options.StateFile, in a file that
// a restarted emulator loads (Open). Close stops the listener and every
// pending callback; none is sent after Close returns.
package emulator
