package ari

import (
	"strings"
)

// DefaultMaxChannels is how many channels the translation keeps track of
// at once when Options.MaxChannels is zero.
const DefaultMaxChannels = 20000

// Options say how Asterisk's channels are read. The zero value works.
type Options struct {
	// Trunks names the endpoints inbound calls arrive on, as the channel
	// names show them: "carrier" matches PJSIP/carrier-0000001a (and
	// SIP/carrier-..., IAX2/carrier-...); "PJSIP/carrier" matches that
	// technology only.
	//
	// Empty: any endpoint whose name is not all digits is taken for a trunk
	// (phones are numbered extensions, trunks have names), except the
	// pseudo-channels (Local, Announcer, Snoop, ...). Only inbound channels
	// count either way: a trunk channel Asterisk created ringing, not one
	// it dialled out on.
	Trunks []string
	// MaxChannels bounds the channels tracked at once (default
	// DefaultMaxChannels); past it the oldest is forgotten, and a call whose
	// caller's channel is forgotten gets no more events (the tracker
	// expires it).
	MaxChannels int
}

// pseudoTechs are channel technologies that never carry a person.
var pseudoTechs = map[string]bool{
	"local": true, "announcer": true, "cbann": true, "cbrec": true, "recorder": true,
	"snoop": true, "unicastrtp": true, "multicastrtp": true, "audiosocket": true,
	"websocket": true, "bridgemedia": true, "message": true,
}

// trunkMatcher tells trunk endpoints from the others.
type trunkMatcher struct {
	any   map[string]bool // endpoint names, any technology
	exact map[string]bool // "tech/endpoint", tech lower-cased
	guess bool            // no trunks configured: non-numeric endpoints
}

func newTrunkMatcher(trunks []string) trunkMatcher {
	m := trunkMatcher{any: map[string]bool{}, exact: map[string]bool{}}
	for _, t := range trunks {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if tech, ep, ok := strings.Cut(t, "/"); ok {
			m.exact[strings.ToLower(tech)+"/"+ep] = true
		} else {
			m.any[t] = true
		}
	}
	m.guess = len(m.any) == 0 && len(m.exact) == 0
	return m
}

// match reports whether a channel of technology tech on endpoint ep came
// from a trunk.
func (m trunkMatcher) match(tech, ep string) bool {
	if ep == "" || pseudoTechs[strings.ToLower(tech)] {
		return false
	}
	if m.guess {
		return !allDigits(ep)
	}
	return m.any[ep] || m.exact[strings.ToLower(tech)+"/"+ep]
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// splitName splits a channel name into its technology and endpoint:
// "PJSIP/carrier-0000001a" → ("PJSIP", "carrier"),
// "Local/100@ring-ext-00000003;2" → ("Local", "100@ring-ext"). A name
// without a technology has the whole name as its endpoint.
func splitName(name string) (tech, endpoint string) {
	tech, rest, ok := strings.Cut(name, "/")
	if !ok {
		return "", name
	}
	if i := strings.LastIndexByte(rest, ';'); i >= 0 {
		rest = rest[:i]
	}
	if i := strings.LastIndexByte(rest, '-'); i > 0 {
		rest = rest[:i]
	}
	return tech, rest
}

// localBase is the name both halves of a Local channel share
// ("Local/100@ring-ext-00000003" for ";1" and ";2"), and which half this
// is; ok is false for other channels.
func localBase(name string) (base string, half byte, ok bool) {
	if !strings.HasPrefix(name, "Local/") || len(name) < 3 || name[len(name)-2] != ';' {
		return "", 0, false
	}
	half = name[len(name)-1]
	if half != '1' && half != '2' {
		return "", 0, false
	}
	return name[:len(name)-2], half, true
}
