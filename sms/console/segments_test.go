package console

import (
	"strings"
	"testing"
)

func TestSegments(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int
	}{
		{"Empty", "", 1},
		{"GSMFull", strings.Repeat("a", 160), 1},
		{"GSMOneOver", strings.Repeat("a", 161), 2},
		{"GSMTwoFull", strings.Repeat("a", 306), 2},
		{"GSMTwoAndOne", strings.Repeat("a", 307), 3},
		{"GSMNationalCharacters", strings.Repeat("é£¿Ñ", 40), 1},
		{"ExtensionTakesTwo", strings.Repeat("€", 80), 1},
		{"ExtensionOneOver", strings.Repeat("€", 81), 2},
		// 76 escapes fill 152 of a part's 153 septets; the 77th does not
		// split and starts the next part.
		{"ExtensionNotSplit", strings.Repeat("€", 152), 2},
		{"ExtensionNotSplitThree", strings.Repeat("€", 153), 3},
		{"UCS2Full", strings.Repeat("ą", 70), 1},
		{"UCS2OneOver", strings.Repeat("ą", 71), 2},
		{"UCS2TwoFull", strings.Repeat("ą", 134), 2},
		{"UCS2TwoAndOne", strings.Repeat("ą", 135), 3},
		{"OneNonGSMMakesAllUCS2", strings.Repeat("a", 70) + "ą", 2},
		{"SurrogatePairsFull", strings.Repeat("😀", 35), 1},
		// 33 pairs fill 66 of a part's 67 units; a pair does not split.
		{"SurrogatePairNotSplit", strings.Repeat("😀", 66), 2},
		{"SurrogatePairNotSplitThree", strings.Repeat("😀", 67), 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := segments(tt.body); got != tt.want {
				t.Errorf("segments(%d × %q…) = %d, want %d", len([]rune(tt.body)), []rune(tt.body)[:min(1, len(tt.body))], got, tt.want)
			}
		})
	}
}
