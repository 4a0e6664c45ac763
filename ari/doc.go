// Package ari watches an Asterisk PBX passively over ARI, the Asterisk REST
// Interface, and translates what it sees into ledger.Events.
//
// It owns everything textback knows about Asterisk:
//
//   - the connection: the event websocket (/ari/events?app=NAME&subscribeAll=true,
//     an application name no dialplan uses), the event filter, pings,
//     reconnects with backoff, reconciling with GET /ari/channels after a
//     reconnect (Source, Probe);
//   - reading ARI events, one JSON object each, whether from the websocket or
//     from a capture file (ReadCapture), with the event types of
//     github.com/CyCoreSystems/ari/v5; event types that library does not know
//     are skipped and counted, never fatal;
//   - what the events mean: which channel is the caller's (a channel created
//     by a configured trunk endpoint, ringing inbound), which legs belong to
//     one call (CHANNEL(linkedid), Local channel pairs, Dial events), the line
//     (the trunk channel's dialplan exten at creation), whether the caller
//     withheld the number (CALLERID(pres)), what "a person answered" means (a
//     Dial towards a real channel ending ANSWER, or the caller's channel
//     reaching a real channel through bridges; never a channel going Up,
//     which voicemail and IVRs do too), voicemail, IVR and queue outcomes, and
//     when the call is over (ChannelDestroyed of the caller's channel).
//
// It decides nothing: ledger.Tracker turns the events into verdicts. ledger
// must not learn anything about Asterisk, and this package knows nothing of
// policy, texts or drivers, and never imports esl.
package ari
