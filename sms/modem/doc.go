// Package modem is the sms.Driver for a USB GSM modem driven by AT commands
// (3GPP 27.005/27.007), for sites with no internet: the SIM in the modem is
// the line's number.
//
// It owns everything between textback and the modem's serial port:
//
//   - The port: opened non-blocking with raw termios (so that closing it
//     never hangs on a reader), wrapped in github.com/warthog618/modem's at
//     and gsm layers, initialised (PDU mode, numeric errors), the SIM PIN
//     entered at most once per process and never again after a rejection,
//     registration and signal checked.
//   - Sending (Driver.Send): PDU mode, long texts split into concatenated
//     segments with a concatenation reference shared by every text (the
//     library on its own uses 1 for all), UCS-2 when GSM-7 cannot carry the
//     text. Each send has its own timeout; after any timeout the command
//     stream is resynchronised before the modem is used again, and the send
//     is Unknown once a PDU may have reached the modem. +CMS ERROR codes map
//     to Outcomes (cms.go).
//   - Receiving (Driver.Run): +CMTI (stored) and +CMT (direct) indications,
//     a sweep of stored messages at start, multipart reassembly; a message is
//     deleted from the SIM (or acknowledged, for +CMT) only after the
//     sms.Receiver recorded it. Multipart texts are put together on the
//     Driver (reassembly.go), so a reconnect loses no part, keyed by
//     sender, concatenation reference and number of parts; a part read
//     again (same SIM index, or same sender, reference and number) counts
//     once and every stored part is deleted exactly once. A text still
//     missing parts partial_timeout (default 24h) after its first part
//     arrived is recorded with "[…]" for each gap, with a warning. The SIM
//     is the durable store: after a restart the sweep at start reads the
//     stored parts again (and their wait starts again).
//   - Delivery reports (delivery_reports): asked for when the modem can
//     indicate them (stored +CDSI, or direct +CDS acknowledged after the
//     write), matched in memory to the texts of this process by TP-MR,
//     and handed to the Receiver as sms.Status (reports.go).
//   - Resilience: an unplugged or hung modem (ErrClosed, timeouts, a failed
//     periodic health check) is closed and the whole stack rebuilt with
//     capped backoff; meanwhile Send answers Temporary at once, so queued
//     texts wait in the core's outbox.
//   - Pacing: a minimum gap between texts and per-hour and per-day caps,
//     well under consumer SIM fair-use limits.
//
// The package knows nothing of calls, lines or consent.
package modem
