package ledger

import "strings"

// presented reports whether a caller number as the PBX gave it is a real,
// presented number rather than an empty value or a placeholder.
func presented(s string) bool {
	s = strings.ToLower(strings.TrimSpace(s))
	switch s {
	case "", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld":
		return false
	}
	return true
}
