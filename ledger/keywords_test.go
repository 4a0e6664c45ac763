package ledger

import (
	"strconv"
	"strings"
	"sync"
	"testing"
)

// kwCase is a reply and what it means. word, when set, is the expected
// KeywordMatch.Word.
type kwCase struct {
	name string
	body string
	want KeywordMatch
	word string
}

var (
	kwNone     = KeywordMatch{}
	kwOut      = KeywordMatch{Kind: KeywordOptOut}
	kwProbable = KeywordMatch{Kind: KeywordOptOut, Probable: true}
	kwIn       = KeywordMatch{Kind: KeywordOptIn}
	kwInIfOut  = KeywordMatch{Kind: KeywordOptIn, OnlyIfOptedOut: true}
	kwHelp     = KeywordMatch{Kind: KeywordHelp}
)

// kwLong is a real request that mentions stop, end and cancel.
const kwLong = "Hi, this is Maria from 42 Elm Street. The water heater started leaking again last night and I can't stop it, " +
	"so please stop by tomorrow before the end of the day if you can, or cancel my Friday appointment and come today instead. Thanks!"

var kwCases = []kwCase{
	// Standard opt-out keywords, any case and punctuation.
	{"Stop", "STOP", kwOut, "stop"},
	{"StopDot", "Stop.", kwOut, "stop"},
	{"StopBangs", "stop!!", kwOut, "stop"},
	{"StopSpaces", "  STOP  ", kwOut, "stop"},
	{"StopNewline", "sToP\n", kwOut, "stop"},
	{"StopQuoted", "“STOP”", kwOut, "stop"},
	{"StopAll", "stop all", kwOut, "stop all"},
	{"StopAllJoined", "Stopall", kwOut, "stopall"},
	{"StopAllHyphen", "STOP-ALL", kwOut, "stop all"},
	{"Unsubscribe", "UNSUBSCRIBE", kwOut, "unsubscribe"},
	{"UnsubscribeAccent", "Unsübscribe", kwOut, "unsubscribe"},
	{"Cancel", "cancel", kwOut, "cancel"},
	{"End", "end", kwOut, "end"},
	{"Quit", "Quit", kwOut, "quit"},
	{"Revoke", "revoke", kwOut, "revoke"},
	{"OptOutHyphen", "Opt-out", kwOut, "opt out"},
	{"OptOutSpace", "opt out", kwOut, "opt out"},
	{"OptOutBang", "OPT OUT!", kwOut, "opt out"},
	{"OptOutJoined", "OPTOUT", kwOut, "optout"},
	{"Remove", "Remove", kwOut, "remove"},
	{"Arret", "arrêt", kwOut, "arret"},
	{"ArretUpper", "ARRÊT", kwOut, "arret"},
	{"TD", "TD", kwOut, "td"},
	// Exact phrasings: a keyword with small talk, or an unmistakable object.
	{"StopPlease", "Stop please", kwOut, "stop please"},
	{"PleaseStop", "please stop", kwOut, "please stop"},
	{"StopPleaseThanks", "Stop. Thank you", kwOut, "stop thank you"},
	{"StopIt", "Stop it", kwOut, "stop it"},
	{"StopNow", "STOP NOW!!!", kwOut, "stop now"},
	{"OkStop", "ok stop", kwOut, ""},
	{"NoStop", "No, stop", kwOut, ""},
	{"YesStop", "yes stop", kwOut, ""},
	{"StopRepeated", "STOP STOP STOP", kwOut, "stop stop stop"},
	{"CancelPlease", "Cancel please", kwOut, ""},
	{"PleaseOptMeOut", "please opt me out", kwOut, "please opt me out"},
	{"UnsubscribeMe", "Unsubscribe me", kwOut, ""},
	{"RemoveMe", "remove me", kwOut, "remove me"},
	{"StopPorFavor", "stop por favor", kwOut, ""},
	// Emoji, symbols, full-width and styled letters, invisible characters.
	{"StopEmoji", "STOP 🛑", kwOut, "stop"},
	{"StopBetweenEmoji", "🛑STOP🛑", kwOut, "stop"},
	{"FullWidth", "ＳＴＯＰ", kwOut, "stop"},
	{"FullWidthPhrase", "Ｓｔｏｐ　ｐｌｅａｓｅ", kwOut, "stop please"},
	{"MathBold", "𝐒𝐓𝐎𝐏", kwOut, "stop"},
	{"ZeroWidth", "STOP\u200b", kwOut, "stop"},
	{"SoftHyphen", "un\u00adsubscribe", kwOut, "unsubscribe"},
	// Probable opt-outs: phrasings, flagged for review.
	{"PleaseStopTextingMe", "please stop texting me", kwProbable, "please stop texting me"},
	{"StopTextingMePlease", "Stop texting me please", kwProbable, ""},
	{"StopTexting", "stop texting", kwProbable, ""},
	{"StopMessagingMe", "Stop messaging me", kwProbable, ""},
	{"StopSendingTexts", "stop sending me these texts", kwProbable, ""},
	{"StopCallingMe", "STOP CALLING ME", kwProbable, ""},
	{"StopTheTexts", "Stop the texts!", kwProbable, ""},
	{"StopSwearing", "stop fucking texting me", kwProbable, ""},
	{"DontTextMe", "don't text me", kwProbable, "dont text me"},
	{"DontTextMeCurly", "Don’t text me", kwProbable, "dont text me"},
	{"DontTextMeAcute", "Don´t text me", kwProbable, ""},
	{"DoNotTextMeAgain", "do not text me again", kwProbable, ""},
	{"DoNotContactMe", "DO NOT CONTACT ME", kwProbable, ""},
	{"NeverTextMeAgain", "Never text me again.", kwProbable, ""},
	{"DontSendTexts", "don't send me any more messages", kwProbable, ""},
	{"TakeMeOff", "Take me off your list", kwProbable, "take me off your list"},
	{"RemoveMeFromList", "remove me from your list", kwProbable, ""},
	{"RemoveMyNumber", "Please remove my number", kwProbable, ""},
	{"NoMoreTexts", "no more texts", kwProbable, ""},
	{"NoMoreMessagesPlease", "No more messages please", kwProbable, ""},
	{"WantToUnsubscribe", "I want to unsubscribe", kwProbable, ""},
	{"LikeToOptOut", "I'd like to opt out", kwProbable, "id like to opt out"},
	{"CanYouRemoveMe", "Can you please remove me from your list?", kwProbable, ""},
	{"OptOutOfTexts", "opt out of these texts", kwProbable, ""},
	{"UnsubscribeFromList", "Unsubscribe from this list", kwProbable, ""},
	{"HowUnsubscribe", "How do I unsubscribe?", kwProbable, ""},
	{"DontWantTexts", "I don't want these texts", kwProbable, ""},
	{"LeaveMeAlone", "leave me alone", kwProbable, ""},
	{"ISaidStop", "I said STOP", kwProbable, "i said stop"},
	{"WhoIsThisStop", "Who is this? Stop", kwProbable, ""},
	{"WrongNumberStop", "Wrong number. Stop texting me.", kwProbable, ""},
	{"PoliteLong", "Hi, who is this? Please stop texting me. Thanks", kwProbable, "hi who is this please stop texting me thanks"},
	{"StopTextingWhoIsThis", "stop texting me!!! who is this", kwProbable, ""},
	{"Typo", "Unsuscribe", kwProbable, ""},
	{"StopHelp", "STOP HELP", kwProbable, ""},
	{"StartStop", "start stop", kwProbable, ""},
	{"NineStops", "stop stop stop stop stop stop stop stop stop", kwProbable, ""},
	// Lookalikes: ordinary replies, for a person.
	{"DontStopCalling", "don't stop calling", kwNone, ""},
	{"DontStopTexting", "Don't stop texting me, I want updates", kwNone, ""},
	{"DontStopTextingShort", "don't stop texting me", kwNone, ""},
	{"StopBy", "stop by tomorrow at 3?", kwNone, ""},
	{"CanYouStopBy", "can you stop by friday", kwNone, ""},
	{"PleaseStopBy", "Please stop by", kwNone, ""},
	{"BusStop", "the bus stop", kwNone, ""},
	{"CantStopWater", "I can't stop the water", kwNone, ""},
	{"CantStopLeak", "I can't stop the leak!", kwNone, ""},
	{"CanYouStopIt", "Can you stop it?", kwNone, ""},
	{"HowStopWater", "How do I stop the water?", kwNone, ""},
	{"CancelAppointment", "cancel my appointment please", kwNone, ""},
	{"NeedToCancel", "I need to cancel", kwNone, ""},
	{"DontCancel", "Don't cancel", kwNone, ""},
	{"EndOfDay", "end of day is fine", kwNone, ""},
	{"EndOfTheDay", "end of the day works", kwNone, ""},
	{"OpenTillEndOfDay", "is the shop open till end of day", kwNone, ""},
	{"QuitJob", "quit my job", kwNone, ""},
	{"StoppedBy", "stopped by yesterday", kwNone, ""},
	{"TheEnd", "The end", kwNone, ""},
	{"RemoveHeater", "remove the old water heater", kwNone, ""},
	{"StopCallingTextInstead", "stop calling me, text instead", kwNone, ""},
	{"DontCallMeText", "Don't call me, text", kwNone, ""},
	{"NoCalls", "No calls please", kwNone, ""},
	{"StopSign", "Stop sign", kwNone, ""},
	{"Stopp", "stopp", kwNone, ""},
	{"Spelled", "S T O P", kwNone, ""},
	{"YesPlumber", "Yes I need a plumber tomorrow", kwNone, ""},
	{"Ok", "ok", kwNone, ""},
	{"Thanks", "Thanks!", kwNone, ""},
	{"No", "no", kwNone, ""},
	{"NoThanks", "No thanks", kwNone, ""},
	{"WrongNumber", "Wrong number", kwNone, ""},
	{"WhoIsThis", "who is this?", kwNone, ""},
	{"Ordinary", "Sounds good, see you at 3", kwNone, ""},
	{"LongRequest", kwLong, kwNone, ""},
	{"LongStopLast", strings.Repeat("word ", 30) + "stop", kwNone, ""},
	{"ManyStops", strings.Repeat("stop ", 30), kwNone, ""},
	{"Huge", strings.Repeat("a", 100000), kwNone, ""},
	// Help: the bare word only; anything more is for a person.
	{"Help", "help", kwHelp, "help"},
	{"HelpBang", "HELP!", kwHelp, "help"},
	{"HelpQuestion", "help?", kwHelp, "help"},
	{"Info", "Info", kwHelp, "info"},
	{"HelpHelp", "HELP HELP", kwHelp, ""},
	{"HelpFullWidth", "ＨＥＬＰ", kwHelp, "help"},
	{"HelpMePipe", "help me my pipe burst", kwNone, ""},
	{"HelpMe", "help me", kwNone, ""},
	{"HelpPlease", "help please", kwNone, ""},
	{"NeedHelp", "I need help", kwNone, ""},
	// Opt-in: START always, YES only while opted out.
	{"Start", "START", kwIn, "start"},
	{"StartDot", "start.", kwIn, "start"},
	{"Unstop", "Unstop", kwIn, "unstop"},
	{"Yes", "YES", kwInIfOut, "yes"},
	{"YesBang", "Yes!", kwInIfOut, "yes"},
	{"YesPlease", "yes please", kwInIfOut, "yes please"},
	{"Y", "y", kwInIfOut, "y"},
	{"StartPlease", "Start please", kwInIfOut, ""},
	{"YesStart", "Yes, start", kwInIfOut, ""},
	{"Subscribe", "subscribe", kwNone, ""},
	// Nothing to read.
	{"Empty", "", kwNone, ""},
	{"Spaces", "   ", kwNone, ""},
	{"Whitespace", "\n\t\r ", kwNone, ""},
	{"Punctuation", "!!!...", kwNone, ""},
	{"EmojiOnly", "🙂👍", kwNone, ""},
	{"StopSignEmoji", "🛑", kwNone, ""},
	{"InvalidUTF8", "\xff\xfe", kwNone, ""},
	{"InvalidUTF8Stop", "\xffSTOP\xfe", kwOut, "stop"},
}

func kwStandard(t testing.TB) *Keywords {
	t.Helper()
	k, err := NewKeywords(KeywordConfig{})
	if err != nil {
		t.Fatalf("NewKeywords: %v", err)
	}
	return k
}

func TestKeywords_Match(t *testing.T) {
	if len(kwCases) < 60 {
		t.Fatalf("only %d cases", len(kwCases))
	}
	k := kwStandard(t)
	seen := map[string]bool{}
	for _, tc := range kwCases {
		if seen[tc.name] {
			t.Fatalf("two cases named %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			got := k.Match(tc.body)
			want := tc.want
			want.Word = got.Word
			if got != want {
				t.Fatalf("Match(%q) = %+v, want %+v", tc.body, got, want)
			}
			if tc.word != "" && got.Word != tc.word {
				t.Errorf("Match(%q).Word = %q, want %q", tc.body, got.Word, tc.word)
			}
			if (got.Kind == KeywordNone) != (got.Word == "") {
				t.Errorf("Match(%q).Word = %q for kind %v", tc.body, got.Word, got.Kind)
			}
		})
	}
}

func TestKeywords_MatchExtra(t *testing.T) {
	k, err := NewKeywords(KeywordConfig{
		OptOut: []string{"BAJA", "Darse de baja", "stop"},
		OptIn:  []string{"ALTA", "Oui", "yes"},
		Help:   []string{"AYUDA", "Aide"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []kwCase{
		{"Baja", "BAJA", kwOut, "baja"},
		{"BajaLower", "baja!", kwOut, "baja"},
		{"BajaPorFavor", "Baja, por favor", kwOut, "baja por favor"},
		{"BajaPlease", "baja please", kwOut, ""},
		{"DarseDeBaja", "Darse de BAJA.", kwOut, "darse de baja"},
		{"BajaInSentence", "la baja presión del agua", kwNone, ""},
		{"Ayuda", "AYUDA", kwHelp, "ayuda"},
		{"AyudaBang", "¡Ayuda!", kwHelp, "ayuda"},
		{"AyudaPorFavor", "ayuda por favor", kwNone, ""},
		{"Aide", "aide", kwHelp, "aide"},
		{"Alta", "alta", kwInIfOut, "alta"},
		{"Oui", "OUI", kwInIfOut, "oui"},
		{"OuiSentence", "Oui, demain matin", kwNone, ""},
		{"Yes", "yes", kwInIfOut, "yes"},
		{"StandardStop", "STOP", kwOut, "stop"},
		{"StandardStart", "start", kwIn, "start"},
		{"StandardHelp", "help", kwHelp, "help"},
		{"StandardProbable", "please stop texting me", kwProbable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := k.Match(tc.body)
			want := tc.want
			want.Word = got.Word
			if got != want || (tc.word != "" && got.Word != tc.word) {
				t.Fatalf("Match(%q) = %+v, want %+v (word %q)", tc.body, got, tc.want, tc.word)
			}
		})
	}
	t.Run("OtherLinesUnaffected", func(t *testing.T) {
		std := kwStandard(t)
		for _, body := range []string{"BAJA", "ayuda", "oui", "darse de baja"} {
			if got := std.Match(body); got.Kind != KeywordNone {
				t.Errorf("standard Match(%q) = %+v, want none", body, got)
			}
		}
	})
}

func TestNewKeywords_Invalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra KeywordConfig
		word  string
	}{
		{"Empty", KeywordConfig{OptOut: []string{"BAJA", ""}}, ""},
		{"Blank", KeywordConfig{OptOut: []string{"  "}}, "  "},
		{"Punctuation", KeywordConfig{Help: []string{"?!"}}, "?!"},
		{"Emoji", KeywordConfig{OptIn: []string{"👍"}}, "👍"},
		{"OptInStop", KeywordConfig{OptIn: []string{"Stop"}}, "Stop"},
		{"HelpCancel", KeywordConfig{Help: []string{"cancel please"}}, "cancel please"},
		{"OptOutYes", KeywordConfig{OptOut: []string{"YES"}}, "YES"},
		{"OptOutHelp", KeywordConfig{OptOut: []string{"info"}}, "info"},
		{"TwoKinds", KeywordConfig{OptOut: []string{"alto"}, OptIn: []string{"ALTO!"}}, "ALTO!"},
		{"TooManyWords", KeywordConfig{OptOut: []string{"one two three four five six seven eight nine"}}, "one two three four five six seven eight nine"},
		{"TooLong", KeywordConfig{Help: []string{strings.Repeat("x", 61)}}, strings.Repeat("x", 61)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := NewKeywords(tc.extra)
			if err == nil {
				t.Fatalf("NewKeywords(%+v) = %v, nil; want an error", tc.extra, k)
			}
			if !strings.Contains(err.Error(), strconv.Quote(tc.word)) {
				t.Errorf("error %q does not name %q", err, tc.word)
			}
		})
	}
}

func TestKeywordKind_String(t *testing.T) {
	for k, want := range map[KeywordKind]string{
		KeywordNone: "none", KeywordOptOut: "opt_out", KeywordOptIn: "opt_in", KeywordHelp: "help", 9: "KeywordKind(9)",
	} {
		if got := k.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(k), got, want)
		}
	}
}

// TestKeywords_MatchConcurrent runs Match from many goroutines on one
// Keywords (go test -race).
func TestKeywords_MatchConcurrent(t *testing.T) {
	k := kwStandard(t)
	want := make([]KeywordMatch, len(kwCases))
	for i, tc := range kwCases {
		want[i] = k.Match(tc.body)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i, tc := range kwCases {
				if got := k.Match(tc.body); got != want[i] {
					t.Errorf("concurrent Match(%q) = %+v, want %+v", tc.body, got, want[i])
				}
			}
		})
	}
	wg.Wait()
}

// kwPads are added around a message; they never change what it means.
var kwPads = []string{" ", "\n", "!", "...", "¡", "¿", "\"", "“", "”", "(", ")", "🛑", "👍", "\u3000", "。", " - ", "\t!!! "}

func FuzzKeywords_Match(f *testing.F) {
	for _, tc := range kwCases {
		if len(tc.body) < 1000 { // huge seeds only slow the fuzzer down
			f.Add(tc.body)
		}
	}
	k, err := NewKeywords(KeywordConfig{OptOut: []string{"BAJA", "darse de baja"}, OptIn: []string{"oui"}, Help: []string{"ayuda"}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		m := k.Match(body)
		if again := k.Match(body); again != m {
			t.Fatalf("Match(%q) = %+v, then %+v", body, m, again)
		}
		switch {
		case m.Kind < KeywordNone || m.Kind > KeywordHelp:
			t.Fatalf("Match(%q): kind %v", body, m.Kind)
		case (m.Kind == KeywordNone) != (m.Word == ""):
			t.Fatalf("Match(%q) = %+v: word and kind disagree", body, m)
		case m.Probable && m.Kind != KeywordOptOut, m.OnlyIfOptedOut && m.Kind != KeywordOptIn:
			t.Fatalf("Match(%q) = %+v: flag on the wrong kind", body, m)
		}
		if m.Word != "" {
			if w, _, _ := normalize(m.Word, maxProbableWords); w != m.Word {
				t.Fatalf("Match(%q).Word = %q, not normalised (%q)", body, m.Word, w)
			}
		}
		for i, pad := range kwPads {
			after := kwPads[(i+5)%len(kwPads)]
			if got := k.Match(pad + body + after); got != m {
				t.Fatalf("Match(%q) = %+v, but Match(%q) = %+v", body, m, pad+body+after, got)
			}
		}
		if m.Kind != KeywordOptOut || m.Probable {
			return
		}
		for _, v := range []string{strings.ToUpper(body), strings.ToLower(body), kwSwapCase(body)} {
			if got := k.Match(v); got.Kind != KeywordOptOut || got.Probable || got.Word != m.Word {
				t.Fatalf("Match(%q) = %+v, but Match(%q) = %+v", body, m, v, got)
			}
		}
	})
}

// kwSwapCase upper-cases every other letter.
func kwSwapCase(s string) string {
	var b strings.Builder
	for i, r := range []rune(s) {
		if i%2 == 0 {
			b.WriteString(strings.ToUpper(string(r)))
		} else {
			b.WriteString(strings.ToLower(string(r)))
		}
	}
	return b.String()
}

func BenchmarkKeywords_Match(b *testing.B) {
	k := kwStandard(b)
	bodies := []string{
		"STOP", "Stop please", "please stop texting me", "Yes", "help",
		"stop by tomorrow at 3?", "cancel my appointment please", "Sounds good, see you at 3",
		"Hi, who is this? Please stop texting me. Thanks", "ＳＴＯＰ", "arrêt", kwLong,
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, body := range bodies {
			k.Match(body)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(bodies)), "ns/match")
}
