package ledger

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// setConsent records a consent change: it appends to the history and
// updates the number's state, in the caller's transaction. It returns
// false, writing nothing, when the number is already in that state: only
// changes are recorded and confirmed.
func setConsent(tx *bolt.Tx, number, line string, state ConsentState, src ConsentSource, evidence string, review bool, now time.Time) (bool, error) {
	ns, err := getNumber(tx, number)
	if err != nil {
		return false, err
	}
	optedOut := state == ConsentOptedOut
	if ns.OptedOut == optedOut {
		return false, nil
	}
	b := tx.Bucket(bucketConsent)
	seq, err := b.NextSequence()
	if err != nil {
		return false, err
	}
	ev := ConsentEvent{Seq: seq, At: now, Number: number, Line: line, State: state, Source: src, Evidence: evidence, Review: review}
	if err := putJSON(b, consentKey(number, seq), ev); err != nil {
		return false, err
	}
	ns.OptedOut, ns.Changed = optedOut, now
	return true, putNumber(tx, ns)
}

// OptOut records an opt-out made by an admin (`textback optout add`).
// number may be in any form the line's country reads; note is kept as
// evidence. It reports whether the state changed. No text is sent.
func (l *Ledger) OptOut(number, line, note string) (bool, error) {
	return l.adminConsent(number, line, note, ConsentOptedOut)
}

// OptIn reverses an opt-out on an admin's word (`textback optout remove`).
func (l *Ledger) OptIn(number, line, note string) (bool, error) {
	return l.adminConsent(number, line, note, ConsentOptedIn)
}

func (l *Ledger) adminConsent(raw, line, note string, state ConsentState) (bool, error) {
	num, err := l.Normalize(raw, line)
	if err != nil {
		return false, err
	}
	if note == "" {
		note = "textback optout command"
	}
	var changed bool
	now := l.now()
	err = l.store.update(func(tx *bolt.Tx) error {
		var err error
		changed, err = setConsent(tx, num, line, state, SourceAdmin, note, false, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", state, num, err)
	}
	l.log.Info().Str("number", l.show(num)).Str("state", string(state)).Bool("changed", changed).Str("source", string(SourceAdmin)).Msg("consent")
	return changed, nil
}

// Normalize reads a number as the named line's country would (the first
// line's when line is empty or unknown) and returns its E.164 form.
func (l *Ledger) Normalize(raw, line string) (string, error) {
	r := l.rules.Load()
	region := ""
	if cl := r.byName[line]; cl != nil {
		region = cl.Country
	} else if len(r.lines) > 0 {
		region = r.lines[0].Country
	}
	n, err := NormalizeNumber(raw, region)
	if err != nil {
		return "", err
	}
	return n.E164, nil
}
