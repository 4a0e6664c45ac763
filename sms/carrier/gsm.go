package carrier

import "strings"

// The GSM 03.38 default alphabet and its extension table (each extension
// character takes an escape and two septets).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// isGSM7 reports whether s can be sent in the GSM 7-bit alphabet, so a
// gateway can be asked for 160-character segments instead of UCS-2's 70.
func isGSM7(s string) bool {
	for _, r := range s {
		if r == '\x1b' || !strings.ContainsRune(gsmBasic, r) && !strings.ContainsRune(gsmExtension, r) {
			return false
		}
	}
	return true
}
