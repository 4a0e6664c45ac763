package console

import (
	"strings"
	"unicode/utf8"
)

// The GSM 03.38 default alphabet (one septet each) and its extension table
// (two septets each: an escape and the character).
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtension = "\f^{}\\[~]|€"
)

// segments returns how many SMS segments body takes: GSM-7 when every
// character is in the GSM default alphabet or its extension (160 septets in
// one segment, 153 per segment when concatenated), UCS-2 otherwise (70
// UTF-16 code units, 67 when concatenated). Like phones and carriers, it does
// not split an escape sequence or a surrogate pair across segments. An empty
// body is one segment.
//
// It is a local copy on purpose: package sms must not depend on the core's
// counting, and the console only reports the number.
func segments(body string) int {
	// Widths of the characters in septets (GSM-7) or UTF-16 units (UCS-2).
	var widths []int
	gsm := true
	for _, r := range body {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			widths = append(widths, 1)
		case strings.ContainsRune(gsmExtension, r):
			widths = append(widths, 2)
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	single, multi := 160, 153
	if !gsm {
		single, multi = 70, 67
		widths = widths[:0]
		for _, r := range body {
			if utf8.RuneLen(r) == 4 { // outside the BMP: a surrogate pair
				widths = append(widths, 2)
			} else {
				widths = append(widths, 1)
			}
		}
	}
	total := 0
	for _, w := range widths {
		total += w
	}
	if total <= single {
		return 1
	}
	n, used := 1, 0
	for _, w := range widths {
		if used+w > multi {
			n++
			used = 0
		}
		used += w
	}
	return n
}
